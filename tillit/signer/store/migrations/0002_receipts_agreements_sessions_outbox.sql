-- 2: receipts, agreements waiting at the branch, customer sessions, the outbox

    CREATE TABLE receipts (
        order_ref TEXT PRIMARY KEY REFERENCES orders(ref), customer_id TEXT NOT NULL, created_at REAL NOT NULL,
        data TEXT NOT NULL);
    CREATE TABLE agreements (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers(id), title TEXT NOT NULL,
        name TEXT NOT NULL, content BLOB NOT NULL, created_at REAL NOT NULL, signed_order TEXT, signed_at REAL);
    CREATE INDEX agreements_customer ON agreements(customer_id, signed_at);
    CREATE TABLE customer_sessions (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, kiosk_id TEXT NOT NULL, last_used REAL NOT NULL,
        expires_at REAL NOT NULL);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY, at REAL NOT NULL, channel TEXT NOT NULL, recipient TEXT NOT NULL,
        subject TEXT NOT NULL, body TEXT NOT NULL);
    
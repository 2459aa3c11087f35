-- 1: customers, devices, kiosks, orders, documents, nonces, audit

    CREATE TABLE customers (
        id TEXT PRIMARY KEY, personal_number TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
        mobile TEXT NOT NULL, email TEXT NOT NULL, born TEXT NOT NULL, password_hash TEXT NOT NULL,
        failed_passwords INTEGER NOT NULL DEFAULT 0, password_locked INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL, key_label TEXT NOT NULL, cert_serial TEXT, guardian_id TEXT,
        last_method TEXT, created_at REAL NOT NULL);
    CREATE TABLE devices (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers(id), public_key BLOB NOT NULL,
        name TEXT NOT NULL, status TEXT NOT NULL, activated_at REAL NOT NULL, deactivated_at REAL);
    CREATE INDEX devices_customer ON devices(customer_id, status);
    CREATE TABLE kiosks (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, status TEXT NOT NULL,
        created_at REAL NOT NULL);
    CREATE TABLE orders (
        ref TEXT PRIMARY KEY, kind TEXT NOT NULL, customer_id TEXT, kiosk_id TEXT NOT NULL,
        reference TEXT NOT NULL, user_visible_data TEXT NOT NULL, nonce TEXT NOT NULL, method TEXT NOT NULL,
        created_at REAL NOT NULL, expires_at REAL NOT NULL, status TEXT NOT NULL, hint_code TEXT NOT NULL,
        device_id TEXT, level TEXT, approved_at REAL, completed_at REAL, completion TEXT, agreement_id TEXT,
        signatures INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX orders_customer ON orders(customer_id, status);
    CREATE INDEX orders_device ON orders(device_id, status);
    CREATE TABLE documents (
        order_ref TEXT NOT NULL REFERENCES orders(ref), idx INTEGER NOT NULL, name TEXT NOT NULL,
        content_type TEXT NOT NULL, content BLOB NOT NULL, sha256 TEXT NOT NULL, signed BLOB,
        PRIMARY KEY (order_ref, idx));
    CREATE TABLE device_nonces (
        device_id TEXT NOT NULL, nonce TEXT NOT NULL, expires_at REAL NOT NULL,
        PRIMARY KEY (device_id, nonce));
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY, at REAL NOT NULL, event TEXT NOT NULL, subject TEXT NOT NULL,
        data TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
    
-- 8: guesses at customer secrets admitted and not yet decided (signer/guesses.py); control
-- answers counted per customer, not per order; code-device guesses throttled per number;
-- when a signed document was first fetched (retention)

    CREATE TABLE guesses_in_flight (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, secret TEXT NOT NULL, context TEXT NOT NULL,
        admitted_at REAL NOT NULL);
    CREATE INDEX guesses_in_flight_customer ON guesses_in_flight(customer_id, secret);
    CREATE TABLE code_throttles (
        personal_number TEXT PRIMARY KEY, failures INTEGER NOT NULL, throttled_until REAL NOT NULL);
    ALTER TABLE customers ADD COLUMN failed_answers INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE customers ADD COLUMN answers_locked INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE documents ADD COLUMN fetched_at REAL;
    ALTER TABLE activations ADD COLUMN personal_number TEXT;
    ALTER TABLE kiosks ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX orders_completed ON orders(status, completed_at);
    
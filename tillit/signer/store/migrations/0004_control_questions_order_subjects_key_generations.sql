-- 4: control questions, the customer an order is about (guardian approvals), key generations

    CREATE TABLE control_answers (
        customer_id TEXT NOT NULL REFERENCES customers(id), idx INTEGER NOT NULL, question TEXT NOT NULL,
        answer_hash TEXT NOT NULL, PRIMARY KEY (customer_id, idx));
    ALTER TABLE orders ADD COLUMN subject_id TEXT;
    ALTER TABLE orders ADD COLUMN answer_failures INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE customers ADD COLUMN key_generation INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE customers ADD COLUMN blocked_reason TEXT;
    
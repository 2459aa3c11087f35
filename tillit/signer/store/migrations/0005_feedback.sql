-- 5: anonymous feedback (no customer, no order: only the kiosk, the kind of order and the day)

    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY, day TEXT NOT NULL, kiosk_id TEXT NOT NULL, kind TEXT NOT NULL,
        rating INTEGER NOT NULL, comment TEXT NOT NULL);
    ALTER TABLE orders ADD COLUMN feedback_given INTEGER NOT NULL DEFAULT 0;
    
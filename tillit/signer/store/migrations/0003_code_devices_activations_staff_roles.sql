-- 3: code devices, app activations, staff tokens (kiosk roles)

    CREATE TABLE code_devices (
        serial TEXT PRIMARY KEY, customer_id TEXT, status TEXT NOT NULL, failures INTEGER NOT NULL DEFAULT 0,
        last_counter INTEGER NOT NULL DEFAULT 0, assigned_at REAL);
    CREATE INDEX code_devices_customer ON code_devices(customer_id);
    CREATE TABLE activations (
        id TEXT PRIMARY KEY, customer_id TEXT, method TEXT NOT NULL, device_name TEXT NOT NULL,
        public_key BLOB NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL, status TEXT NOT NULL,
        sms_code_hash TEXT, email_code_hash TEXT, failures INTEGER NOT NULL DEFAULT 0, order_ref TEXT);
    ALTER TABLE kiosks ADD COLUMN role TEXT NOT NULL DEFAULT 'kiosk';
    
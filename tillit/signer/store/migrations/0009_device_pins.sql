-- 9: the app PIN checked by the signer (signer/device_pins.py): per device the unlock key, a
-- hash of the PIN verifier, the secret that completes the device key's wrap, wrong PINs in a row

    CREATE TABLE device_pins (
        device_id TEXT PRIMARY KEY REFERENCES devices(id), unlock_key BLOB NOT NULL,
        verifier_hash TEXT NOT NULL, server_secret BLOB NOT NULL, failures INTEGER NOT NULL DEFAULT 0,
        locked_at REAL, created_at REAL NOT NULL);
    
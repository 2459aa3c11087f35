-- 6: audit checkpoints signed by the audit key in the HSM (signer/audit.py); `at` in whole
-- seconds and the DER signature in hex, so every engine stores exactly what was signed

    CREATE TABLE audit_checkpoints (
        seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, at INTEGER NOT NULL, reason TEXT NOT NULL,
        signature TEXT NOT NULL);
    
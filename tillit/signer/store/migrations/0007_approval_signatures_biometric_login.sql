-- 7: the device's approval signature (base64), checked again over the documents' bytes right
-- before the HSM signs them (signer/signing.py)
-- and whether the customer turned on login without password (biometric or app PIN) in the app

    ALTER TABLE orders ADD COLUMN approval TEXT;
    ALTER TABLE devices ADD COLUMN biometric INTEGER NOT NULL DEFAULT 0;
    
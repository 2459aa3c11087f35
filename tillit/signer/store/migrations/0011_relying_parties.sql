-- 11: relying parties on the BankID RP API v6.0 face (signer/branch/relying_parties.py): each is a
-- kiosks row of role 'rp' (its name is what the phone shows as the requester) with the client
-- certificate Tillit issued it, found by the certificate's SHA-256; and per order started there,
-- what the RP API adds to an order: the start tokens and QR secret, the end user's IP, the data the
-- user does not see, the text's format, and the completion data built for the RP's collect

    CREATE TABLE relying_parties (
        name TEXT PRIMARY KEY, kiosk_id TEXT NOT NULL UNIQUE REFERENCES kiosks(id), cert_serial TEXT NOT NULL,
        fingerprint TEXT NOT NULL UNIQUE, issued_at REAL NOT NULL, revoked_at REAL);
    CREATE TABLE rp_orders (
        order_ref TEXT PRIMARY KEY REFERENCES orders(ref), auto_start_token TEXT NOT NULL UNIQUE,
        qr_start_token TEXT NOT NULL UNIQUE, qr_start_secret TEXT NOT NULL, end_user_ip TEXT NOT NULL,
        user_non_visible_data TEXT, visible_data_format TEXT NOT NULL, named_customer INTEGER NOT NULL,
        claimed_at REAL, completion TEXT);

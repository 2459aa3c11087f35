-- 12: the HSM's seals (signer/seals.py) on the values that decide who may act as a customer: the
-- password hash and each device's public key (filled in for the rows already there when the seal
-- key is first made), and on an order's grant to sign with its customer's key

    ALTER TABLE customers ADD COLUMN password_seal TEXT;
    ALTER TABLE devices ADD COLUMN key_seal TEXT;
    ALTER TABLE orders ADD COLUMN grant_seal TEXT;

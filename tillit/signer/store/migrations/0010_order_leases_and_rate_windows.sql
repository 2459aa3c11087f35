-- 10: several instances sharing nothing but the database and the HSM. Orders record which instance
-- runs their password check or signing (`runner`, the instance id) and until when that instance
-- holds it (`lease_until`): a restarting instance resumes only its own or expired leases. The
-- start-rate windows of signer/ratelimit.py, counted here when the instances share a database
-- (`key` is a SHA-256 of the personal number or kiosk id, never the number itself). The CA
-- ledger is not here: tillit/hsm makes its own tables (tillit/hsm/ca_ledger_pg.py says why).

    ALTER TABLE orders ADD COLUMN runner TEXT;
    ALTER TABLE orders ADD COLUMN lease_until REAL;
    CREATE TABLE rate_events (scope TEXT NOT NULL, key TEXT NOT NULL, at REAL NOT NULL);
    CREATE INDEX rate_events_by_key ON rate_events (scope, key, at);
    CREATE INDEX rate_events_by_age ON rate_events (at)

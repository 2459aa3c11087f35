"""Persistence: a transactional store with typed operations, SQLite by default.

The domain code sees only `Store.tx()` and the `Tx` methods. SQL is written once with `?`
placeholders; a dialect turns it into what the driver wants, so a PostgreSQL store fills the
same interface with its own connection and `BEGIN`. Every state change and its audit entry are
written in one transaction.

Where things are:

- `records.py`: the rows (Customer, Device, Order, ...) and the order kinds and open states;
- `tx.py`: `Tx`, one transaction, made of the queries of each area: `customers.py`, `guesses.py`,
  `devices.py`, `orders.py`, `documents.py`, `branch.py` (kiosks, agreements, receipts,
  feedback), `relying_parties.py` (the RP face's relying parties), `audit.py` (the hash chain and
  its checkpoints), on `queries.py` (cursor, dialect);
- `base.py`: `Store`, the interface; `sqlite.py`: `SqliteStore`; `postgres.py`: `PostgresStore`;
- `migrations/`: the schema, one SQL file per migration, and their loader.
"""

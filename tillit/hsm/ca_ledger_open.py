"""Opening the CA ledger a home and a database URL use (`tillit.hsm.ca_ledger`): the SQLite file in
the home, or the PostgreSQL database. Apart from both ledgers' modules, since it chooses between them
and the PostgreSQL one builds on the SQLite one (it carries a home's rows over)."""

from __future__ import annotations

from pathlib import Path

from tillit.hsm.ca_ledger import SQLITE_FILE, CaLedger, SqliteCaLedger


def in_postgresql(database_url: str | None) -> bool:
    """Whether the ledger for this database URL is in PostgreSQL (else the home's ca.db)."""
    return (database_url or "").startswith(("postgresql://", "postgres://"))


def open_ledger(home: Path, database_url: str | None) -> CaLedger:
    """The ledger the signer with this home and database URL uses: in PostgreSQL for a
    postgresql:// URL (carrying `home`/ca.db's rows over, `PostgresCaLedger`), else `home`/ca.db."""
    if database_url and in_postgresql(database_url):
        # psycopg loads only for a PostgreSQL URL: a single machine's tools start without it.
        from tillit.hsm.ca_ledger_pg import PostgresCaLedger

        return PostgresCaLedger(database_url, import_from=home / SQLITE_FILE)
    return SqliteCaLedger(home / SQLITE_FILE)

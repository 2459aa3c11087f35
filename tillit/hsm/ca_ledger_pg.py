"""The CA ledger in PostgreSQL: one ledger for every signer instance and admin command on every
machine that shares the database (`tillit.hsm.ca_ledger_open.open_ledger` picks it for a postgresql://
database URL).

Its tables (`ca_certificates`, `ca_crl_numbers`, `ca_newest_crl`) are made here, idempotently, not by the signer's
migrations: `tillit-hsm ca init` may be the first to reach a new database, and the HSM package
imports nothing of the signer's (where the migrations live). They are the ledger's alone.

Shared without locks of our own but row locks: a revocation is one conditional UPDATE (of two
admins revoking one certificate at once, one gets True); a CRL number is an UPDATE ... RETURNING of
the counter's row, so numbers grow strictly whichever instance signs the CRL. Making the tables and
carrying over an old single-machine `ca.db` run under an advisory lock, so that instances starting
together do it once. The carry-over is a merge: a certificate already here keeps its row (gaining a
revocation the file has and the database has not), each CRL counter becomes the larger of the two,
so it may run again (each time `ca.db` is still in the home) and changes nothing the second time.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from asn1crypto import x509
from psycopg_pool import ConnectionPool, PoolTimeout

from tillit.hsm.ca_ledger import (
    IssuedCertificate,
    KeptCrl,
    LedgerRow,
    SqliteCaLedger,
    issued_from_row,
    new_certificate_values,
)
from tillit.hsm.errors import LedgerUnavailable
from tillit.postgres_connections import SteadyPool, connection_options, creating

# Tillit's advisory locks take two keys, the first "TILL" (tillit/signer/store/postgres.py numbers
# its own 1 and 2 under it); the ledger's schema and carry-over take this one.
_LOCK_NAMESPACE = 0x54494C4C
_LEDGER_LOCK = 16

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS ca_certificates ("
    " serial TEXT PRIMARY KEY, key_label TEXT NOT NULL, subject TEXT NOT NULL,"
    " not_before TEXT NOT NULL, not_after TEXT NOT NULL, der BYTEA NOT NULL, revoked_at TEXT, reason TEXT)",
    "CREATE INDEX IF NOT EXISTS ca_certificates_revoked ON ca_certificates (revoked_at) WHERE revoked_at IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS ca_crl_numbers (crl TEXT PRIMARY KEY, number BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ca_newest_crl (one INTEGER PRIMARY KEY CHECK (one = 1), number BIGINT NOT NULL,"
    " made_at DOUBLE PRECISION NOT NULL, revoked TEXT NOT NULL, der BYTEA NOT NULL)",
)
_SELECT = "SELECT serial, key_label, subject, not_before, not_after, revoked_at, reason FROM ca_certificates"
_ISSUING, _ROOT = "issuing", "root"


class PostgresCaLedger:
    """The ledger in the PostgreSQL database at `url`; `import_from`, when that file exists, is an
    old `ca.db` whose rows and CRL numbers are merged in first. Thread-safe (a small pool)."""

    def __init__(self, url: str, *, import_from: Path | None = None, max_size: int = 4) -> None:
        try:
            with (
                psycopg.connect(url, autocommit=True, **connection_options(url)) as conn,
                creating("create the CA ledger's tables"),
            ):
                self._prepare(conn, import_from)
        except psycopg.OperationalError as e:
            raise LedgerUnavailable(
                f"cannot use the CA ledger's PostgreSQL database (TILLIT_DATABASE_URL): {str(e).strip()}"
            ) from None
        self._pool: ConnectionPool[psycopg.Connection[Any]] = SteadyPool(
            url,
            min_size=1,
            max_size=max_size,
            timeout=10.0,
            kwargs={"autocommit": True, "application_name": "tillit-ca-ledger", **connection_options(url)},
            check=ConnectionPool.check_connection,  # a connection dropped while idle is replaced, not used
            name="tillit-ca-ledger",
            open=True,
        )

    @staticmethod
    def _prepare(conn: psycopg.Connection[Any], import_from: Path | None) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s::integer, %s::integer)", (_LOCK_NAMESPACE, _LEDGER_LOCK))
            # DDL only when something is missing: a role without CREATE may then run a database that
            # its owner has set up.
            missing = conn.execute(
                "SELECT to_regclass('ca_certificates') IS NULL OR to_regclass('ca_certificates_revoked') IS NULL"
                " OR to_regclass('ca_crl_numbers') IS NULL OR to_regclass('ca_newest_crl') IS NULL"
            ).fetchone()
            if missing is None or missing[0]:
                for statement in _SCHEMA:
                    conn.execute(statement)
            if import_from is None or not import_from.is_file():
                return
            old = SqliteCaLedger(import_from)
            try:
                rows, issuing, root = old.contents()
            finally:
                old.close()
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO ca_certificates (serial, key_label, subject, not_before, not_after, der, revoked_at,"
                    " reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (serial) DO UPDATE SET"
                    " revoked_at = EXCLUDED.revoked_at, reason = EXCLUDED.reason"
                    " WHERE ca_certificates.revoked_at IS NULL AND EXCLUDED.revoked_at IS NOT NULL",
                    [_values(row) for row in rows],
                )
                cur.executemany(
                    "INSERT INTO ca_crl_numbers (crl, number) VALUES (%s, %s) ON CONFLICT (crl) DO UPDATE"
                    " SET number = GREATEST(ca_crl_numbers.number, EXCLUDED.number)",
                    [(_ISSUING, issuing), (_ROOT, root)],
                )

    def _execute(self, sql: str, params: tuple[Any, ...]) -> tuple[int, list[tuple[Any, ...]]]:
        """Run one statement (its own transaction): the rows it touched and the rows it returned."""
        try:
            with self._pool.connection() as conn, conn.cursor() as cur:
                cur.execute(sql, params)  # SQL of this module, values as parameters
                return cur.rowcount, cur.fetchall() if cur.description else []
        except (psycopg.OperationalError, PoolTimeout) as e:
            raise LedgerUnavailable(f"the CA ledger's database did not answer: {str(e).strip()}") from None

    def close(self) -> None:
        self._pool.close()

    def add(self, serial: int, key_label: str, cert: x509.Certificate) -> None:
        self._execute(
            "INSERT INTO ca_certificates (serial, key_label, subject, not_before, not_after, der)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            new_certificate_values(serial, key_label, cert),
        )

    def revoke(self, serial: int, reason: str, at: datetime) -> bool:
        changed, _ = self._execute(
            "UPDATE ca_certificates SET revoked_at=%s, reason=%s WHERE serial=%s AND revoked_at IS NULL",
            (at.isoformat(), reason, f"{serial:x}"),
        )
        return changed == 1

    def get(self, serial: int) -> IssuedCertificate | None:
        _, rows = self._execute(_SELECT + " WHERE serial=%s", (f"{serial:x}",))
        return issued_from_row(rows[0]) if rows else None

    def revoked(self) -> list[IssuedCertificate]:
        _, rows = self._execute(_SELECT + " WHERE revoked_at IS NOT NULL ORDER BY revoked_at, serial", ())
        return [issued_from_row(row) for row in rows]

    def next_crl_number(self, root: bool = False) -> int:
        _, rows = self._execute(
            "INSERT INTO ca_crl_numbers (crl, number) VALUES (%s, 1) ON CONFLICT (crl) DO UPDATE"
            " SET number = ca_crl_numbers.number + 1 RETURNING number",
            (_ROOT if root else _ISSUING,),
        )
        return int(rows[0][0])  # RETURNING of an upsert always gives the row

    def keep_crl(self, kept: KeptCrl) -> None:
        self._execute(
            "INSERT INTO ca_newest_crl VALUES (1, %s, %s, %s, %s) ON CONFLICT (one) DO UPDATE SET"
            " number = EXCLUDED.number, made_at = EXCLUDED.made_at, revoked = EXCLUDED.revoked, der = EXCLUDED.der"
            " WHERE ca_newest_crl.number < EXCLUDED.number",
            (kept.number, kept.made_at, kept.revoked, kept.der),
        )

    def newest_crl(self) -> KeptCrl | None:
        _, rows = self._execute("SELECT number, made_at, revoked, der FROM ca_newest_crl", ())
        return KeptCrl(int(rows[0][0]), float(rows[0][1]), str(rows[0][2]), bytes(rows[0][3])) if rows else None


def _values(row: LedgerRow) -> tuple[Any, ...]:
    return (row.serial, row.key_label, row.subject, row.not_before, row.not_after, row.der, row.revoked_at, row.reason)

"""The CA's ledger: every certificate it issued, whether and why it was revoked, and CRL numbers.

`CaLedger` is what the CA, its CRL issuer and its OCSP responder ask of it;
`tillit.hsm.ca_ledger_open.open_ledger` picks where it lives from the database URL the signer uses
(`database_url`, TILLIT_DATABASE_URL):

- no URL or a SQLite one: `SqliteCaLedger`, a small SQLite file in TILLIT_HOME (`ca.db`), for a
  single machine;
- a PostgreSQL URL: `tillit.hsm.ca_ledger_pg.PostgresCaLedger`, in that database, so that every
  instance and admin command on every machine sees one ledger (a revocation anywhere is in every
  instance's next OCSP answer and CRL), and CRL numbers grow across all of them.

The certificates themselves are also stored on the token beside their keys.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from asn1crypto import x509

from tillit.hsm.cert_profiles import now_seconds


@dataclass(frozen=True)
class KeptCrl:
    """The newest CRL of the issuing CA any process made (`CrlIssuer.shared_crl`): its number, when
    it was made (seconds since the epoch), the revoked serials it lists (`revoked_key`) and its DER."""

    number: int
    made_at: float
    revoked: str
    der: bytes


@dataclass(frozen=True)
class IssuedCertificate:
    serial: int
    key_label: str
    subject: str
    not_before: datetime
    not_after: datetime
    revoked_at: datetime | None
    reason: str | None


class CaLedger(Protocol):
    """Issued certificates, revocations and the CRL numbers of the issuing CA and the root."""

    def add(self, serial: int, key_label: str, cert: x509.Certificate) -> None:
        """Record a certificate the CA issued."""

    def revoke(self, serial: int, reason: str, at: datetime) -> bool:
        """Mark `serial` revoked at `at` for `reason`; False when it was already revoked (or unknown)."""

    def get(self, serial: int) -> IssuedCertificate | None:
        """The certificate with this serial, or None."""

    def revoked(self) -> list[IssuedCertificate]:
        """Every revoked certificate, oldest revocation first."""

    def next_crl_number(self, root: bool = False) -> int:
        """The next number of the issuing CA's CRL, or of the root's with `root`: larger than any
        this ledger gave before, to whichever process asked."""

    def keep_crl(self, kept: KeptCrl) -> None:
        """Keep `kept` as the newest CRL unless one with a higher number is kept already."""

    def newest_crl(self) -> KeptCrl | None:
        """The CRL `keep_crl` kept with the highest number, or None."""

    def close(self) -> None:
        """Let go of the file or the connections."""


SQLITE_FILE = "ca.db"


class SqliteCaLedger:
    """The ledger in a SQLite file (`ca.db` in TILLIT_HOME), serialised by a lock: one machine."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._lock = threading.Lock()
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS certificates (
                serial TEXT PRIMARY KEY, key_label TEXT NOT NULL, subject TEXT NOT NULL,
                not_before TEXT NOT NULL, not_after TEXT NOT NULL, der BLOB NOT NULL,
                revoked_at TEXT, reason TEXT);
            CREATE TABLE IF NOT EXISTS crl_numbers (number INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT);
            CREATE TABLE IF NOT EXISTS root_crl_numbers (number INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT);
            CREATE TABLE IF NOT EXISTS newest_crl (
                one INTEGER PRIMARY KEY CHECK (one = 1), number INTEGER NOT NULL, made_at REAL NOT NULL,
                revoked TEXT NOT NULL, der BLOB NOT NULL);
            """
        )

    def close(self) -> None:
        self._db.close()

    def add(self, serial: int, key_label: str, cert: x509.Certificate) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO certificates (serial, key_label, subject, not_before, not_after, der)"
                " VALUES (?,?,?,?,?,?)",
                new_certificate_values(serial, key_label, cert),
            )

    def revoke(self, serial: int, reason: str, at: datetime) -> bool:
        with self._lock:
            cur = self._db.execute(
                "UPDATE certificates SET revoked_at=?, reason=? WHERE serial=? AND revoked_at IS NULL",
                (at.isoformat(), reason, f"{serial:x}"),
            )
            return cur.rowcount == 1

    def get(self, serial: int) -> IssuedCertificate | None:
        row = self._db.execute(
            "SELECT serial, key_label, subject, not_before, not_after, revoked_at, reason"
            " FROM certificates WHERE serial=?",
            (f"{serial:x}",),
        ).fetchone()
        return issued_from_row(row) if row else None

    def revoked(self) -> list[IssuedCertificate]:
        rows = self._db.execute(
            "SELECT serial, key_label, subject, not_before, not_after, revoked_at, reason"
            " FROM certificates WHERE revoked_at IS NOT NULL ORDER BY revoked_at"
        ).fetchall()
        return [issued_from_row(r) for r in rows]

    def next_crl_number(self, root: bool = False) -> int:
        """The next number of the issuing CA's CRL, or of the root's with `root`."""
        table = "root_crl_numbers" if root else "crl_numbers"
        with self._lock:
            cur = self._db.execute(f"INSERT INTO {table} (at) VALUES (?)", (now_seconds().isoformat(),))  # noqa: S608
            return int(cur.lastrowid or 0)

    def keep_crl(self, kept: KeptCrl) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO newest_crl VALUES (1, ?, ?, ?, ?) ON CONFLICT (one) DO UPDATE SET number=excluded.number,"
                " made_at=excluded.made_at, revoked=excluded.revoked, der=excluded.der"
                " WHERE newest_crl.number < excluded.number",
                (kept.number, kept.made_at, kept.revoked, kept.der),
            )

    def newest_crl(self) -> KeptCrl | None:
        row = self._db.execute("SELECT number, made_at, revoked, der FROM newest_crl").fetchone()
        return KeptCrl(int(row[0]), float(row[1]), str(row[2]), bytes(row[3])) if row else None

    def contents(self) -> tuple[list[LedgerRow], int, int]:
        """Every certificate row as stored (serial in hex, times in ISO 8601, the DER), and the last
        CRL numbers of the issuing CA and of the root (0: none): what a move to PostgreSQL carries over."""
        rows = self._db.execute(
            "SELECT serial, key_label, subject, not_before, not_after, der, revoked_at, reason FROM certificates"
        ).fetchall()
        last = [
            int(self._db.execute(f"SELECT COALESCE(MAX(number), 0) FROM {table}").fetchone()[0])  # noqa: S608
            for table in ("crl_numbers", "root_crl_numbers")
        ]
        return [LedgerRow(*row) for row in rows], last[0], last[1]


@dataclass(frozen=True)
class LedgerRow:
    """A certificate row of the ledger as both engines store it."""

    serial: str
    key_label: str
    subject: str
    not_before: str
    not_after: str
    der: bytes
    revoked_at: str | None
    reason: str | None


def new_certificate_values(serial: int, key_label: str, cert: x509.Certificate) -> tuple[Any, ...]:
    """A newly issued certificate's values for `serial, key_label, subject, not_before, not_after, der`."""
    return (
        f"{serial:x}",
        key_label,
        cert.subject.human_friendly,
        cert.not_valid_before.isoformat(),
        cert.not_valid_after.isoformat(),
        cert.dump(),
    )


def issued_from_row(row: tuple[Any, ...]) -> IssuedCertificate:
    """A certificate row (`serial, key_label, subject, not_before, not_after, revoked_at, reason`)."""
    return IssuedCertificate(
        serial=int(row[0], 16),
        key_label=row[1],
        subject=row[2],
        not_before=datetime.fromisoformat(row[3]),
        not_after=datetime.fromisoformat(row[4]),
        revoked_at=datetime.fromisoformat(row[5]) if row[5] else None,
        reason=row[6],
    )

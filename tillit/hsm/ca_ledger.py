"""The CA's ledger: every certificate it issued, whether and why it was revoked, and CRL numbers.

A small SQLite file in TILLIT_HOME (`ca.db`); the certificates themselves are also stored on the
token beside their keys.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from asn1crypto import x509

from tillit.hsm.cert_profiles import now_seconds


@dataclass(frozen=True)
class IssuedCertificate:
    serial: int
    key_label: str
    subject: str
    not_before: datetime
    not_after: datetime
    revoked_at: datetime | None
    reason: str | None


class CaLedger:
    """Issued certificates, revocations and the CRL numbers of the issuing CA and the root (SQLite,
    serialised by a lock)."""

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
            """
        )

    def close(self) -> None:
        self._db.close()

    def add(self, serial: int, key_label: str, cert: x509.Certificate) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO certificates (serial, key_label, subject, not_before, not_after, der)"
                " VALUES (?,?,?,?,?,?)",
                (
                    f"{serial:x}",
                    key_label,
                    cert.subject.human_friendly,
                    cert.not_valid_before.isoformat(),
                    cert.not_valid_after.isoformat(),
                    cert.dump(),
                ),
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
        return _issued(row) if row else None

    def revoked(self) -> list[IssuedCertificate]:
        rows = self._db.execute(
            "SELECT serial, key_label, subject, not_before, not_after, revoked_at, reason"
            " FROM certificates WHERE revoked_at IS NOT NULL ORDER BY revoked_at"
        ).fetchall()
        return [_issued(r) for r in rows]

    def next_crl_number(self, root: bool = False) -> int:
        """The next number of the issuing CA's CRL, or of the root's with `root`."""
        table = "root_crl_numbers" if root else "crl_numbers"
        with self._lock:
            cur = self._db.execute(f"INSERT INTO {table} (at) VALUES (?)", (now_seconds().isoformat(),))  # noqa: S608
            return int(cur.lastrowid or 0)


def _issued(row: tuple[str, ...]) -> IssuedCertificate:
    return IssuedCertificate(
        serial=int(row[0], 16),
        key_label=row[1],
        subject=row[2],
        not_before=datetime.fromisoformat(row[3]),
        not_after=datetime.fromisoformat(row[4]),
        revoked_at=datetime.fromisoformat(row[5]) if row[5] else None,
        reason=row[6],
    )

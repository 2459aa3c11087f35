"""A transaction's queries about the audit log: the hash chain its entries form and the
checkpoints the audit key signs over it (signer/audit/)."""

from __future__ import annotations

import hashlib
from typing import Any

from tillit.signer.store.queries import Queries, columns
from tillit.signer.store.records import AuditCheckpoint, AuditEntry
from tillit.signer.wire import canonical_json

GENESIS = "0" * 64


def audit_hash(prev_hash: str, seq: int, at: float, event: str, subject: str, data: str) -> str:
    body = canonical_json([seq, repr(at), event, subject, data])
    return hashlib.sha256(prev_hash.encode() + b"\n" + body).hexdigest()


class AuditQueries(Queries):
    """`last_audit_seq` is the newest entry this transaction appended (0: none)."""

    last_audit_seq = 0
    _audit_head: tuple[int, str] | None = None  # (seq, hash) of the chain's last entry once read

    def audit(self, event: str, subject: str, at: float, **data: Any) -> None:
        """Append an entry chained to the previous one (inside the caller's transaction).

        Reads the last entry and inserts the next, so appends must be serialised: SQLite serialises
        whole transactions; `store.postgres.PgTx` defers its appends to commit and takes a
        transaction-level advisory lock for them.
        """
        if self._audit_head is None:  # the second entry of a transaction follows the first without a read
            row = self.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            self._audit_head = (int(row[0]), str(row[1])) if row else (0, GENESIS)
        seq, prev = self._audit_head[0] + 1, self._audit_head[1]
        body = canonical_json(data).decode()
        digest = audit_hash(prev, seq, at, event, subject, body)
        self.execute("INSERT INTO audit VALUES (?,?,?,?,?,?,?)", [seq, at, event, subject, body, prev, digest])
        self._audit_head = (seq, digest)
        self.last_audit_seq = seq  # for the store's after-commit hook (audit checkpoints)

    def audit_entries(self, since: int = 1) -> list[AuditEntry]:
        """The entries from seq `since` on (all by default), oldest first."""
        return self._all(AuditEntry, f"SELECT {columns(AuditEntry)} FROM audit WHERE seq>=? ORDER BY seq", [since])

    def audit_head(self) -> tuple[int, str] | None:
        row = self.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def insert_audit_checkpoint(self, cp: AuditCheckpoint) -> None:
        self._insert("audit_checkpoints", cp, on_conflict=" ON CONFLICT (seq) DO NOTHING")

    def audit_checkpoint(self, seq: int) -> AuditCheckpoint | None:
        return self._one(
            AuditCheckpoint, f"SELECT {columns(AuditCheckpoint)} FROM audit_checkpoints WHERE seq=?", [seq]
        )

    def audit_checkpoints(self) -> list[AuditCheckpoint]:
        return self._all(AuditCheckpoint, f"SELECT {columns(AuditCheckpoint)} FROM audit_checkpoints ORDER BY seq")

    def last_audit_checkpoint_seq(self) -> int:
        row = self.execute("SELECT MAX(seq) FROM audit_checkpoints").fetchone()
        return int(row[0] or 0)

    def count_audit(self, event: str, subject: str | None = None) -> int:
        if subject is None:
            row = self.execute("SELECT COUNT(*) FROM audit WHERE event=?", [event]).fetchone()
        else:
            row = self.execute("SELECT COUNT(*) FROM audit WHERE event=? AND subject=?", [event, subject]).fetchone()
        return int(row[0])

"""Checking the hash-chained audit log."""

from __future__ import annotations

from dataclasses import dataclass

from signer.store import GENESIS, AuditEntry, audit_hash


@dataclass(frozen=True)
class AuditReport:
    entries: int
    broken_at: int | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_chain(entries: list[AuditEntry]) -> AuditReport:
    """Find the first entry that was edited, removed or moved (each breaks a link or a hash)."""
    previous = GENESIS
    expected_seq = 1
    for entry in entries:
        if entry.seq != expected_seq:
            return AuditReport(len(entries), entry.seq, f"entry {expected_seq} is missing (found {entry.seq})")
        if entry.prev_hash != previous:
            return AuditReport(len(entries), entry.seq, f"entry {entry.seq} does not follow entry {entry.seq - 1}")
        recomputed = audit_hash(entry.prev_hash, entry.seq, entry.at, entry.event, entry.subject, entry.data)
        if recomputed != entry.hash:
            return AuditReport(len(entries), entry.seq, f"entry {entry.seq} was edited")
        previous = entry.hash
        expected_seq += 1
    return AuditReport(len(entries), None, None)

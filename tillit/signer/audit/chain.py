"""The hash chain of the audit log, the checkpoint message, and checking the whole log.

Every entry carries a sequence number and the hash of the entry before it (`Tx.audit`), so an edited,
removed or reordered entry breaks a link (`verify_chain`). `verify_log` checks the chain, every
signed checkpoint and the anchor in the HSM (what that finds: the package's docstring).

The checkpoint message, exactly as signed (ECDSA P-256 over SHA-256, DER signature), and exactly as
`audit export` writes it to cp-SEQ.txt for `openssl dgst -sha256 -verify audit.pem`:

    tillit-audit-checkpoint-v1
    seq: 120
    hash: <the entry's hash, 64 lowercase hex>
    time: 2026-05-01T12:00:00Z
    reason: periodic
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric import ec

from tillit.hsm.signing import verify_public
from tillit.signer.audit.anchor import Anchor, anchor_problem
from tillit.signer.store.audit import GENESIS, audit_hash
from tillit.signer.store.records import AuditCheckpoint, AuditEntry

AUDIT_KEY_LABEL = "tillit-audit"
CHECKPOINT_CONTEXT = "tillit-audit-checkpoint-v1"


@dataclass(frozen=True)
class AuditReport:
    entries: int
    broken_at: int | None
    reason: str | None
    checkpoints: int = 0
    covered_to: int | None = None
    """The newest entry a valid signed checkpoint covers."""
    notes: list[str] = field(default_factory=list)
    anchored_to: int | None = None
    """The entry of the checkpoint anchored in the HSM (None: the token holds no anchor)."""

    @property
    def ok(self) -> bool:
        return self.broken_at is None

    @property
    def uncovered(self) -> int:
        """Entries after the newest checkpoint (not yet signed; a truncation there is not detectable)."""
        return self.entries - (self.covered_to or 0) if self.entries else 0


class AuditBroken(Exception):
    """The log does not verify, or does not extend the anchor: nothing was signed."""

    def __init__(self, report: AuditReport) -> None:
        super().__init__(f"audit log broken at entry {report.broken_at}: {report.reason}")
        self.report = report


def verify_chain(entries: list[AuditEntry], previous: str = GENESIS, first: int = 1) -> AuditReport:
    """Find the first entry that was edited, removed or moved (each breaks a link or a hash).
    `previous` and `first`: where a part of the log starts (the hash before it and its first seq)."""
    expected_seq = first
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


def checkpoint_message(seq: int, entry_hash: str, at: int, reason: str) -> bytes:
    """The bytes the audit key signs for a checkpoint (and cp-SEQ.txt of an export)."""
    when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{CHECKPOINT_CONTEXT}\nseq: {seq}\nhash: {entry_hash}\ntime: {when}\nreason: {reason}\n".encode()


def parse_expected(text: str) -> tuple[int, str | None]:
    """`SEQ` or `SEQ:HASH` (as in an export's head.txt) -> (seq, hash or None)."""
    seq_text, _, digest = text.strip().partition(":")
    try:
        seq = int(seq_text)
    except ValueError:
        raise ValueError("expected SEQ or SEQ:HASH, e.g. 120:3f5a...") from None
    if digest and (len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest)):
        raise ValueError("the hash must be 64 lowercase hex digits")
    return seq, digest or None


def verify_log(
    entries: list[AuditEntry],
    checkpoints: list[AuditCheckpoint],
    public_key: ec.EllipticCurvePublicKey | None,
    expected: tuple[int, str | None] | None = None,
    anchor: Anchor | None = None,
) -> AuditReport:
    """The chain, every checkpoint's signature and the entry it names, the checkpoint anchored in
    the HSM (None: the token holds no anchor), and an expected head."""
    chain = verify_chain(entries)
    if not chain.ok:
        return chain
    count = len(entries)
    last = entries[-1].seq if entries else 0
    by_seq = {e.seq: e for e in entries}
    covered: int | None = None
    notes: list[str] = []

    def broken(at: int, reason: str) -> AuditReport:
        return AuditReport(count, at, reason, len(checkpoints), covered, anchored_to=anchor.seq if anchor else None)

    if checkpoints and public_key is None:
        return broken(checkpoints[0].seq, f"there are signed checkpoints but no audit key '{AUDIT_KEY_LABEL}'")
    for cp in sorted(checkpoints, key=lambda c: c.seq):
        assert public_key is not None
        message = checkpoint_message(cp.seq, cp.hash, cp.at, cp.reason)
        if not verify_public(public_key, bytes.fromhex(cp.signature), message):
            return broken(cp.seq, f"the checkpoint at entry {cp.seq} does not carry a valid signature of the audit key")
        entry = by_seq.get(cp.seq)
        if entry is None:
            return broken(
                cp.seq,
                f"the log ends at entry {last} but a signed checkpoint names entry {cp.seq}: "
                f"entries {last + 1}-{cp.seq} or more were removed (truncated tail)",
            )
        if entry.hash != cp.hash:
            return broken(cp.seq, f"entry {cp.seq} differs from its signed checkpoint: the log up to it was rewritten")
        covered = cp.seq
    if anchor is not None:
        entry = by_seq.get(anchor.seq)
        problem = anchor_problem(
            anchor,
            last,
            entry.hash if entry else None,
            any(cp.seq == anchor.seq for cp in checkpoints),
            sum(1 for cp in checkpoints if cp.seq <= anchor.seq),
        )
        if problem:
            return broken(anchor.seq, problem)
    elif checkpoints:
        notes.append("the HSM holds no anchor yet (checkpoints made before anchoring): the next checkpoint anchors")
    if expected is not None:
        seq, digest = expected
        if seq > last:
            return broken(last + 1, f"the log ends at entry {last} but entry {seq} was expected: the tail was removed")
        if digest is not None and by_seq[seq].hash != digest:
            return broken(seq, f"entry {seq} is not the expected one (hash differs)")
    if count and not checkpoints:
        notes.append("no signed checkpoint yet")
    return AuditReport(count, None, None, len(checkpoints), covered, notes, anchor.seq if anchor else None)

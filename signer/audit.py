"""The audit log: checking the hash chain, and checkpoints signed in the HSM.

Every entry carries a sequence number and the hash of the entry before it (`Tx.audit`), so an edited,
removed or reordered entry breaks a link (`verify_chain`). A chain alone has two limits: whoever can
write the database can rewrite an entry and recompute every later hash, and removing the newest
entries leaves a shorter chain that is just as intact. Checkpoints close the first and narrow the
second: every `audit_checkpoint_every` entries, at every clean shutdown of the daemon and at every
`audit export`, the head (seq, hash) is signed by the audit key in the HSM (label `tillit-audit`,
EC P-256, sensitive and never extractable, created on first use) and stored in `audit_checkpoints`.

What `verify_log` then finds, and what it cannot:
- an edited, removed or reordered entry anywhere: the chain breaks, as before;
- a rewritten history (edit and recompute every later hash): the hash of the entry a checkpoint
  names no longer matches the signed one; a forged checkpoint needs the HSM key;
- a truncated tail that removes a checkpointed entry: the signed checkpoint names an entry that is
  no longer there;
- NOT detectable from the database alone: entries written after the last checkpoint removed
  together with nothing else (they were never signed), or the newest checkpoints deleted together
  with the entries they cover. The daemon therefore signs a checkpoint at every clean shutdown and
  the export writes them out; whoever keeps an exported `head.txt` (or an earlier export) can pass
  it as `--expect SEQ:HASH`, and a log shorter than that fails. After a crash (kill -9) the entries
  since the last checkpoint are reported as not yet covered.
- An administrator who can both log in to the token and write the database can sign anything: the
  checkpoints protect against the database, not against the HSM's user PIN.

The checkpoint message, exactly as signed (ECDSA P-256 over SHA-256, DER signature), and exactly as
`audit export` writes it to cp-SEQ.txt for `openssl dgst -sha256 -verify audit.pem`:

    tillit-audit-checkpoint-v1
    seq: 120
    hash: <the entry's hash, 64 lowercase hex>
    time: 2026-05-01T12:00:00Z
    reason: periodic
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hsm.client import Hsm, verify_public
from hsm.errors import HsmError, KeyExists
from hsm.keys import Algorithm
from signer.store import GENESIS, AuditCheckpoint, AuditEntry, Store, audit_hash

AUDIT_KEY_LABEL = "tillit-audit"
CHECKPOINT_CONTEXT = "tillit-audit-checkpoint-v1"

log = logging.getLogger("tillit.audit")


@dataclass(frozen=True)
class AuditReport:
    entries: int
    broken_at: int | None
    reason: str | None
    checkpoints: int = 0
    covered_to: int | None = None
    """The newest entry a valid signed checkpoint covers."""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.broken_at is None

    @property
    def uncovered(self) -> int:
        """Entries after the newest checkpoint (not yet signed; a truncation there is not detectable)."""
        return self.entries - (self.covered_to or 0) if self.entries else 0


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
) -> AuditReport:
    """The chain, every checkpoint's signature and the entry it names, and an expected head."""
    chain = verify_chain(entries)
    if not chain.ok:
        return chain
    count = len(entries)
    last = entries[-1].seq if entries else 0
    by_seq = {e.seq: e for e in entries}
    covered: int | None = None
    notes: list[str] = []

    def broken(at: int, reason: str) -> AuditReport:
        return AuditReport(count, at, reason, len(checkpoints), covered)

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
    if expected is not None:
        seq, digest = expected
        if seq > last:
            return broken(last + 1, f"the log ends at entry {last} but entry {seq} was expected: the tail was removed")
        if digest is not None and by_seq[seq].hash != digest:
            return broken(seq, f"entry {seq} is not the expected one (hash differs)")
    if count and not checkpoints:
        notes.append("no signed checkpoint yet")
    return AuditReport(count, None, None, len(checkpoints), covered, notes)


class Checkpointer:
    """Signs checkpoints of the audit log's head with the audit key in the HSM. Thread-safe."""

    def __init__(self, store: Store, hsm: Hsm, every: int, clock: Callable[[], float]) -> None:
        self.store = store
        self.hsm = hsm
        self.every = every
        self.clock = clock
        self._lock = threading.Lock()
        self._last: int | None = None
        self.failures = 0

    def public_key(self, create: bool = False) -> ec.EllipticCurvePublicKey | None:
        """The audit key's public half; None when there is none (and `create` is False)."""
        if not self.hsm.has_key(AUDIT_KEY_LABEL):
            if not create:
                return None
            with contextlib.suppress(KeyExists):  # another process made it first
                self.hsm.generate_key(AUDIT_KEY_LABEL, Algorithm.EC_P256)
        key = self.hsm.public_key(AUDIT_KEY_LABEL)
        assert isinstance(key, ec.EllipticCurvePublicKey)
        return key

    def public_pem(self) -> bytes:
        key = self.public_key(create=True)
        assert key is not None
        return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def checkpoint(self, reason: str) -> AuditCheckpoint | None:
        """Sign the current head (unless it already has a checkpoint); None for an empty log."""
        with self._lock:
            with self.store.tx() as tx:
                head = tx.audit_head()
                if head is None:
                    return None
                existing = tx.audit_checkpoint(head[0])
            if existing is not None:
                self._last = existing.seq
                return existing
            self.public_key(create=True)
            at = int(self.clock())
            message = checkpoint_message(head[0], head[1], at, reason)
            signature = self.hsm.sign(AUDIT_KEY_LABEL, message)
            cp = AuditCheckpoint(seq=head[0], hash=head[1], at=at, reason=reason, signature=signature.hex())
            with self.store.tx() as tx:
                tx.insert_audit_checkpoint(cp)
                stored = tx.audit_checkpoint(cp.seq)
            self._last = cp.seq
            return stored

    def maybe(self, seq: int) -> None:
        """After a commit that appended up to entry `seq`: sign a checkpoint every `every` entries.
        Never raises: a missing HSM only postpones the checkpoint to the next commit."""
        if self.every <= 0:
            return
        try:
            if self._last is None:
                with self.store.tx() as tx:
                    self._last = tx.last_audit_checkpoint_seq()
            if seq - self._last < self.every or self._lock.locked():
                return
            self.checkpoint("periodic")
        except HsmError as e:
            self.failures += 1
            log.warning("audit checkpoint postponed: %s", e)
        except Exception as e:  # the caller's transaction has committed; this must not fail it
            self.failures += 1
            log.warning("audit checkpoint postponed: %s", type(e).__name__)

    def verify(self, expected: tuple[int, str | None] | None = None) -> AuditReport:
        with self.store.tx() as tx:
            entries = tx.audit_entries()
            checkpoints = tx.audit_checkpoints()
        return verify_log(entries, checkpoints, self.public_key(), expected)

    def export(self, out: Path) -> dict[str, Any]:
        """Write the log, the checkpoints and their signatures, the public key and a README to `out`."""
        self.checkpoint("export")
        out.mkdir(parents=True, exist_ok=True)
        with self.store.tx() as tx:
            entries = tx.audit_entries()
            checkpoints = tx.audit_checkpoints()
        with open(out / "entries.jsonl", "w", encoding="utf-8") as f:
            for e in entries:
                row = {
                    "seq": e.seq,
                    "at": e.at,
                    "atRepr": repr(e.at),
                    "event": e.event,
                    "subject": e.subject,
                    "data": e.data,
                    "prevHash": e.prev_hash,
                    "hash": e.hash,
                }
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        names = []
        for cp in checkpoints:
            (out / f"cp-{cp.seq}.txt").write_bytes(checkpoint_message(cp.seq, cp.hash, cp.at, cp.reason))
            (out / f"cp-{cp.seq}.sig").write_bytes(bytes.fromhex(cp.signature))
            names.append(cp.seq)
        (out / "audit.pem").write_bytes(self.public_pem())
        head = f"{entries[-1].seq}:{entries[-1].hash}\n" if entries else "0\n"
        (out / "head.txt").write_text(head)
        (out / "README.txt").write_text(_README.format(last=names[-1] if names else "N"), encoding="utf-8")
        return {"entries": len(entries), "checkpoints": names, "head": head.strip()}


_README = """Tillit audit log export
=======================

entries.jsonl   every audit entry, oldest first, one JSON object a line
cp-SEQ.txt      a checkpoint: the exact bytes the audit key signed (entry SEQ and its hash)
cp-SEQ.sig      its signature: ECDSA P-256 over SHA-256, DER
audit.pem       the audit key's public key (the private key never leaves the HSM)
head.txt        SEQ:HASH of the newest entry at export time; keep it somewhere else, and later
                run `tillit-signer audit verify --expect SEQ:HASH` to prove nothing was cut off

1. Check each checkpoint with openssl (prints "Verified OK"):

    for sig in cp-*.sig; do
        openssl dgst -sha256 -verify audit.pem -signature "$sig" "${{sig%.sig}}.txt"
    done

   or one of them, the newest:

    openssl dgst -sha256 -verify audit.pem -signature cp-{last}.sig cp-{last}.txt

   Compare audit.pem's fingerprint with the one the bank publishes:
    openssl pkey -pubin -in audit.pem -outform DER | openssl dgst -sha256

2. Check that the entries chain up to the checkpoints. Entry n's hash is

    sha256( prevHash + "\\n" + JSON([seq, atRepr, event, subject, data]) )

   with JSON as compact UTF-8 (separators "," and ":", keys sorted, non-ASCII not escaped), the first
   prevHash 64 zeros and every other the previous entry's hash. In Python:

    import hashlib, json
    prev = "0" * 64
    for line in open("entries.jsonl", encoding="utf-8"):
        e = json.loads(line)
        body = json.dumps([e["seq"], e["atRepr"], e["event"], e["subject"], e["data"]],
                          sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert e["prevHash"] == prev and hashlib.sha256(prev.encode() + b"\\n" + body).hexdigest() == e["hash"]
        prev = e["hash"]

   Then the hash in each cp-SEQ.txt must be the hash of entry SEQ in entries.jsonl.

What this proves: no entry up to the newest checkpoint was edited, removed or reordered since it
was signed. Entries after the newest checkpoint are not signed yet; an export always signs one at
its head, so an export is complete when checked right after it was made.
"""

"""The audit log: checking the hash chain, and checkpoints signed in the HSM.

Every entry carries a sequence number and the hash of the entry before it (`Tx.audit`), so an edited,
removed or reordered entry breaks a link (`verify_chain`). A chain alone has two limits: whoever can
write the database can rewrite an entry and recompute every later hash, and removing the newest
entries leaves a shorter chain that is just as intact. Checkpoints close the first and narrow the
second: every `audit_checkpoint_every` entries, at every clean shutdown of the daemon and at every
`audit export`, the head (seq, hash) is signed by the audit key in the HSM (label `tillit-audit`,
EC P-256, sensitive and never extractable, created on first use) and stored in `audit_checkpoints`.

Signed checkpoints live in the database, so whoever can write it can also delete them: remove
entries after some checkpoint, recompute the chain from there and delete the checkpoints after the
edit, and every remaining checkpoint still matches (security review finding M4). So the newest
checkpoint is also anchored outside the database, in the token: after every checkpoint is stored,
`Checkpointer` advances the HSM record `tillit-audit-anchor` (hsm/records.py: a private token data
object, made and read only with the user PIN) to {seq, hash, checkpoints: how many signed
checkpoints the log held up to seq, at}. The record's counter is the anchored seq, so it only ever
moves forward, also when several daemons share the token and the database: a daemon that anchors
an older checkpoint than the token holds writes nothing. The anchor is written after the
checkpoint's transaction commits, so the database is never behind the token: a crash in between
leaves one checkpoint not yet anchored, which the next checkpoint anchors.

What `verify_log` finds, and what it cannot:
- an edited, removed or reordered entry anywhere: the chain breaks;
- a rewritten history (edit and recompute every later hash): the hash of the entry a checkpoint
  or the anchor names no longer matches; a forged checkpoint needs the HSM key;
- a truncated tail that removes a checkpointed entry: the signed checkpoint, or the anchor when the
  checkpoints were deleted too, names an entry that is no longer there;
- deleted checkpoints: the anchored one missing, or fewer checkpoints up to it than the anchor
  counted (M4 above is found by its rewritten or missing anchored entry, whichever it leaves);
- a database restored from a backup older than the anchor: the same as a truncation;
- NOT detectable: entries written after the newest checkpoint removed together with nothing else
  (they were never signed or anchored; after a crash, kill -9, they are reported as not yet covered;
  whoever keeps an export's `head.txt` can pass it as `--expect SEQ:HASH`); a checkpoint stored in
  the moment before its anchor was written (a crash in between) deleted with the entries after the
  previous anchor; the checkpoints on a token that never had an anchor (made before anchors
  existed: reported, and the next checkpoint anchors the head);
- NOT protected against the HSM's user PIN: whoever can log in to the token and write the database
  can sign checkpoints and move the anchor (`tillit-hsm` holders are trusted), and whoever can
  delete the token's object files (SoftHSM keeps them in TILLIT_HOME/tokens) can delete the anchor,
  which then reads as "no anchor yet". A network HSM keeps its objects behind the PIN.

The daemon checks the database against the anchor before it signs any checkpoint (`checkpoint`:
the anchored entry still there with its hash, the chain intact from it to the head, the anchored
checkpoint and as many as the anchor counted still there), and refuses to sign when it does not
hold: a forged head is never signed nor anchored. `export` verifies the whole log (chain, every
signature, anchor) before it signs. One audit log per token: the audit key and the anchor belong to
the token, so two databases on one token fail each other's anchor.

Cost (SoftHSM 2.6, a small token): the anchor write is one object created and the superseded one
destroyed, 2.5 ms on a quiet disk (SoftHSM syncs the object file) and 40-60 ms on this 2-CPU host
under load; for the daemon's periodic checkpoints it runs on a thread of its own after the
checkpoint's commit, so the request that triggered the checkpoint does not wait for it (the next
checkpoint, or the one at shutdown, does). Before signing, the daemon reads the anchor by a cached
handle (~0.1 ms; a search of the token, linear in its objects, only in a process that has not seen
the newest anchor, i.e. after another process moved it) and the entries since it (about
`audit_checkpoint_every`). All once per checkpoint, not per entry.

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

from tillit.hsm.client import Hsm, verify_public
from tillit.hsm.errors import HsmError, KeyExists
from tillit.hsm.keys import Algorithm
from tillit.signer.store.audit import GENESIS, audit_hash
from tillit.signer.store.base import Store
from tillit.signer.store.records import AuditCheckpoint, AuditEntry
from tillit.signer.wire import canonical_json

AUDIT_KEY_LABEL = "tillit-audit"
ANCHOR_LABEL = "tillit-audit-anchor"
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


@dataclass(frozen=True)
class Anchor:
    """The newest checkpoint as anchored in the HSM (the record `tillit-audit-anchor`)."""

    seq: int
    hash: str
    checkpoints: int
    """Signed checkpoints in the log up to and including `seq` when it was anchored."""
    at: int

    def payload(self) -> bytes:
        fields = {"v": 1, "seq": self.seq, "hash": self.hash, "checkpoints": self.checkpoints, "at": self.at}
        return canonical_json(fields)

    @classmethod
    def from_payload(cls, counter: int, payload: bytes) -> Anchor:
        data = json.loads(payload)
        anchor = cls(int(data["seq"]), str(data["hash"]), int(data["checkpoints"]), int(data["at"]))
        if data.get("v") != 1 or anchor.seq != counter:
            raise ValueError("unknown anchor format")
        return anchor


def anchor_problem(
    anchor: Anchor, last: int, entry_hash: str | None, anchored_checkpoint: bool, checkpoints_to_anchor: int
) -> str | None:
    """Why the log does not extend the anchor, or None. `entry_hash`: the hash of entry `anchor.seq`
    in the log (None: no such entry); `checkpoints_to_anchor`: signed checkpoints up to it."""
    if entry_hash is None:
        return (
            f"the log ends at entry {last} but the HSM anchors a checkpoint at entry {anchor.seq}: "
            f"entries were removed or the log cut short (truncated, or restored from an older copy)"
        )
    if entry_hash != anchor.hash:
        return f"entry {anchor.seq} differs from the checkpoint anchored in the HSM: the log up to it was rewritten"
    if not anchored_checkpoint:
        return f"the checkpoint at entry {anchor.seq} anchored in the HSM is missing: checkpoints were deleted"
    if checkpoints_to_anchor < anchor.checkpoints:
        return (
            f"the log holds {checkpoints_to_anchor} signed checkpoints up to entry {anchor.seq} but the HSM anchor "
            f"counted {anchor.checkpoints}: checkpoints were deleted"
        )
    return None


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


class Checkpointer:
    """Signs checkpoints of the audit log's head with the audit key in the HSM and anchors the newest
    in the token. Thread-safe. `anchor_label` names the record (tests give each log its own)."""

    def __init__(
        self, store: Store, hsm: Hsm, every: int, clock: Callable[[], float], anchor_label: str = ANCHOR_LABEL
    ) -> None:
        self.store = store
        self.hsm = hsm
        self.every = every
        self.clock = clock
        self.anchor_label = anchor_label
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

    def anchor(self) -> Anchor | None:
        """The checkpoint anchored in the HSM, or None when the token holds no anchor."""
        record = self.hsm.read_record(self.anchor_label)
        if record is None:
            return None
        try:
            return Anchor.from_payload(record.counter, record.payload)
        except (ValueError, KeyError, TypeError):
            raise HsmError(f"the record '{self.anchor_label}' on the token is not an audit anchor") from None

    def _unanchored_problem(self, anchor: Anchor) -> AuditReport | None:
        """Whether the log extends `anchor`: the anchored entry still there with its hash, the chain
        intact from it to the head, the anchored checkpoint and as many as the anchor counted still
        there. Reads only the entries since the anchor (about `every` of them)."""
        with self.store.tx() as tx:
            entries = tx.audit_entries(since=anchor.seq)
            checkpoints = [cp.seq for cp in tx.audit_checkpoints() if cp.seq <= anchor.seq]
        last = entries[-1].seq if entries else 0
        first = entries[0] if entries and entries[0].seq == anchor.seq else None
        problem = anchor_problem(
            anchor, last, first.hash if first else None, anchor.seq in checkpoints, len(checkpoints)
        )
        if problem is not None:
            return AuditReport(len(entries), anchor.seq, problem, anchored_to=anchor.seq)
        chain = verify_chain(entries[1:], previous=anchor.hash, first=anchor.seq + 1)
        return None if chain.ok else chain

    def _anchor(self, cp: AuditCheckpoint) -> None:
        """Advance the token's anchor to `cp` (stored and committed): nothing happens when it is
        already there or further on (another daemon on the same token anchored a newer one)."""
        with self.store.tx() as tx:
            counted = sum(1 for c in tx.audit_checkpoints() if c.seq <= cp.seq)
        anchor = Anchor(cp.seq, cp.hash, counted, int(self.clock()))
        self.hsm.advance_record(self.anchor_label, anchor.seq, anchor.payload())

    def checkpoint(self, reason: str, anchor_later: bool = False) -> AuditCheckpoint | None:
        """Sign and anchor the current head (unless it already has a checkpoint, which is then
        anchored if it was not yet); None for an empty log. Raises `AuditBroken`, signing nothing,
        when the log does not extend the anchor in the HSM. `anchor_later`: write the anchor on a
        thread of its own (the daemon's periodic checkpoints, so that the request that triggered
        one does not wait for the token's object write); the next checkpoint waits for it."""
        with self._lock:
            anchor = self.anchor()
            if anchor is not None:
                problem = self._unanchored_problem(anchor)
                if problem is not None:
                    raise AuditBroken(problem)
            with self.store.tx() as tx:
                head = tx.audit_head()
                if head is None:
                    return None
                existing = tx.audit_checkpoint(head[0])
            if existing is not None:
                if anchor is None or anchor.seq < existing.seq:  # stored, then a crash before its anchor
                    self._anchor(existing)
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
            # After the commit: the token may lag the database (a crash here), never lead it.
            if not anchor_later:
                self._anchor(cp)
                return stored
        threading.Thread(target=self._anchor_quietly, args=(cp,), name="audit-anchor", daemon=True).start()
        return stored

    def _anchor_quietly(self, cp: AuditCheckpoint) -> None:
        """`_anchor` on its own thread: a failure only leaves the anchor for the next checkpoint."""
        try:
            with self._lock:
                self._anchor(cp)
        except Exception as e:  # logged; the next checkpoint anchors the head
            self.failures += 1
            log.warning("audit anchor postponed: %s", e if isinstance(e, HsmError) else type(e).__name__)

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
            self.checkpoint("periodic", anchor_later=True)
        except AuditBroken as e:
            self.failures += 1
            log.error("audit checkpoint refused, nothing signed: %s", e)
        except HsmError as e:
            self.failures += 1
            log.warning("audit checkpoint postponed: %s", e)
        except Exception as e:  # the caller's transaction has committed; this must not fail it
            self.failures += 1
            log.warning("audit checkpoint postponed: %s", type(e).__name__)

    def verify(self, expected: tuple[int, str | None] | None = None) -> AuditReport:
        """The whole log against its checkpoints and the HSM's anchor. The anchor is read first: it
        never leads the database, so a checkpoint anchored meanwhile by a running daemon is in the
        entries read after it."""
        anchor = self.anchor()
        with self.store.tx() as tx:
            entries = tx.audit_entries()
            checkpoints = tx.audit_checkpoints()
        return verify_log(entries, checkpoints, self.public_key(), expected, anchor)

    def export(self, out: Path) -> dict[str, Any]:
        """Verify the whole log (raising `AuditBroken`, with nothing signed or written, when it does
        not hold), sign and anchor a checkpoint at the head, then write the log, the checkpoints and
        their signatures, the public key and a README to `out`."""
        report = self.verify()
        if not report.ok:
            raise AuditBroken(report)
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

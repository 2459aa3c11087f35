"""`Checkpointer`: signs checkpoints of the audit log's head with the audit key in the HSM and
anchors the newest in the token (the why: the package's docstring and anchor.py).

Cost (SoftHSM 2.6, a small token): the anchor write is one object created and the superseded one
destroyed, 2.5 ms on a quiet disk (SoftHSM syncs the object file) and 40-60 ms on this 2-CPU host
under load; for the daemon's periodic checkpoints it runs on a thread of its own after the
checkpoint's commit, so the request that triggered the checkpoint does not wait for it (the next
checkpoint, or the one at shutdown, does). Before signing, the daemon reads the anchor by a cached
handle (~0.1 ms; a search of the token, linear in its objects, only in a process that has not seen
the newest anchor, i.e. after another process moved it) and the entries since it (about
`audit_checkpoint_every`). All once per checkpoint, not per entry.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tillit.hsm.client import Hsm
from tillit.hsm.errors import HsmError
from tillit.signer.audit.anchor import ANCHOR_LABEL, Anchor, anchor_problem
from tillit.signer.audit.chain import (
    AUDIT_KEY_LABEL,
    AuditBroken,
    AuditReport,
    checkpoint_message,
    verify_chain,
    verify_log,
)
from tillit.signer.own_keys import ensure_own_key
from tillit.signer.store.base import Store
from tillit.signer.store.records import AuditCheckpoint

log = logging.getLogger("tillit.audit")

POSTPONEMENT_LOG_SECONDS = 60.0
"""At most one log line a minute for audit checkpoints put off (the HSM away, say)."""


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
        self._unlogged_postponements = 0
        self._postponement_logged_at = float("-inf")

    def public_key(self, create: bool = False) -> ec.EllipticCurvePublicKey | None:
        """The audit key's public half; None when there is none (and `create` is False)."""
        if not self.hsm.has_key(AUDIT_KEY_LABEL):
            if not create:
                return None
            ensure_own_key(self.store, self.hsm, AUDIT_KEY_LABEL)  # one key, however many instances
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
        self._quietly(lambda: self._due_by_count(seq))

    def cover_head(self) -> None:
        """Sign a checkpoint if entries were appended after the newest one (the daemon runs this every
        `audit_checkpoint_seconds`: a quiet branch's last entries are covered within that). Never
        raises, as `maybe`."""
        self._quietly(self._uncovered)

    def _due_by_count(self, seq: int) -> None:
        if self._last is None:
            with self.store.tx() as tx:
                self._last = tx.last_audit_checkpoint_seq()
        if seq - self._last < self.every or self._lock.locked():
            return
        self.checkpoint("periodic", anchor_later=True)

    def _uncovered(self) -> None:
        if self._lock.locked():
            return
        with self.store.read() as tx:
            head = tx.audit_head()
            last = tx.last_audit_checkpoint_seq()
        if head is not None and head[0] > last:
            self.checkpoint("periodic", anchor_later=True)

    def _quietly(self, work: Callable[[], None]) -> None:
        try:
            work()
        except AuditBroken as e:
            self.failures += 1
            log.error("audit checkpoint refused, nothing signed: %s", e)
        except HsmError as e:
            self._postponed(str(e))
        except Exception as e:  # the caller's transaction has committed; this must not fail it
            self._postponed(type(e).__name__)

    def _postponed(self, why: str) -> None:
        """Count a checkpoint put off; log it at most once a minute. While the HSM is away every
        commit tries again, and a line each would bury the outage's own lines."""
        self.failures += 1
        self._unlogged_postponements += 1
        now = self.clock()
        if now - self._postponement_logged_at < POSTPONEMENT_LOG_SECONDS:
            return
        count, self._unlogged_postponements, self._postponement_logged_at = self._unlogged_postponements, 0, now
        log.warning("audit checkpoint postponed (%d time%s): %s", count, "" if count == 1 else "s", why)

    def verify(self, expected: tuple[int, str | None] | None = None) -> AuditReport:
        """The whole log against its checkpoints and the HSM's anchor. The anchor is read first: it
        never leads the database, so a checkpoint anchored meanwhile by a running daemon is in the
        entries read after it."""
        anchor = self.anchor()
        with self.store.tx() as tx:
            entries = tx.audit_entries()
            checkpoints = tx.audit_checkpoints()
        return verify_log(entries, checkpoints, self.public_key(), expected, anchor)

"""How long the store keeps documents, and the sweep that deletes what is due.

The store holds a customer's documents only as long as someone needs them:
- an order that ends unsigned (declined, expired, cancelled, blocked, failed at start) keeps nothing:
  `Tx.transition` deletes its documents in the transaction that ends it, and an order that fails at
  start never stores them. Their SHA-256 digests stay in the audit log;
- an open order left alone past its lifetime is expired by the sweep (nobody may ever collect it);
- a signed document is deleted `document_retention_days` after signing once the kiosk has fetched
  it, and at twice that when it never was (the customer's copy must not vanish with a kiosk that
  crashed before fetching);
- every kiosk's orders together hold at most `kiosk_storage_bytes` of documents (`Tx.add_stored_bytes`
  at order start), so one kiosk token cannot fill the disk.

Fetching a signed document is a read on the request path; the first fetch is remembered here and
written by the next sweep, one transaction for all of them. A crash before the sweep forgets those
marks, which keeps the documents longer, never shorter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from tillit.signer.settings import SignerSettings
from tillit.signer.store.base import Store

DAY = 86400.0
BATCH = 500


@dataclass
class SweepReport:
    expired_orders: int = 0
    purged_orders: int = 0


class Retention:
    def __init__(self, settings: SignerSettings, store: Store, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self._fetched: dict[tuple[str, int], float] = {}
        self._lock = threading.Lock()

    def note_fetched(self, order_ref: str, index: int) -> None:
        """Remember the first fetch of a signed document (written by the next sweep)."""
        with self._lock:
            self._fetched.setdefault((order_ref, index), self.clock())

    def sweep(self) -> SweepReport:
        """Write the fetch marks, expire abandoned orders, delete signed documents past retention."""
        report = SweepReport()
        at = self.clock()
        with self._lock:
            fetched, self._fetched = self._fetched, {}
        if fetched:
            with self.store.tx() as tx:
                for (ref, index), when in fetched.items():
                    tx.mark_fetched(ref, index, when)
        while True:
            with self.store.tx() as tx:
                abandoned = tx.open_orders_expired_before(at, BATCH)
                for order in abandoned:
                    if tx.transition(order.ref, [order.status], "failed", "expiredTransaction", completed_at=at):
                        tx.audit("order.failed", order.ref, at, hint="expiredTransaction", by="retention")
                        report.expired_orders += 1
            if len(abandoned) < BATCH:
                break
        keep = self.settings.document_retention_days * DAY
        while True:
            with self.store.tx() as tx:
                due = tx.signed_orders_to_purge(at - keep, at - 2 * keep, BATCH)
                for ref in due:
                    size = tx.delete_documents(ref)
                    tx.audit("documents.deleted", ref, at, bytes=size, why="retention")
                report.purged_orders += len(due)
                tx.prune_code_throttles(at - DAY)
            if len(due) < BATCH:
                break
        return report

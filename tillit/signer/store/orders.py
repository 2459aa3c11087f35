"""A transaction's queries about orders: creating them, finding the open ones, moving them between
states (only as signer/states.py's `TRANSITIONS` allows), failing them with their audit entry, and
the leases of the instances running them (signer/leases.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from tillit.signer.states import EXPIRING_STATES, KIOSK_KINDS, OPEN_STATES, OrderStatus, allowed_sources
from tillit.signer.store.audit import AuditQueries
from tillit.signer.store.documents import DocumentQueries
from tillit.signer.store.queries import columns
from tillit.signer.store.records import Order


class OrderQueries(DocumentQueries, AuditQueries):
    def insert_order(self, o: Order) -> None:
        self._insert("orders", o)

    def order(self, ref: str) -> Order | None:
        return self._one(Order, f"SELECT {columns(Order)} FROM orders WHERE ref=?", [ref])

    def open_orders_for_customer(self, customer_id: str, kinds: Sequence[str] = KIOSK_KINDS) -> list[Order]:
        """Open orders of a customer; by default only those a kiosk started (not guardian or activation)."""
        marks = ",".join("?" * len(OPEN_STATES))
        kind_marks = ",".join("?" * len(kinds))
        return self._all(
            Order,
            f"SELECT {columns(Order)} FROM orders WHERE customer_id=? AND status IN ({marks})"
            f" AND kind IN ({kind_marks}) ORDER BY created_at, ref",  # one order of row locks for all callers
            [customer_id, *OPEN_STATES, *kinds],
        )

    def pending_orders_for_device(self, device_id: str, now: float) -> list[Order]:
        return self._all(
            Order,
            f"SELECT {columns(Order)} FROM orders WHERE device_id=? AND status='pending' AND expires_at > ?"
            " ORDER BY created_at",
            [device_id, now],
        )

    def open_orders(self) -> list[Order]:
        marks = ",".join("?" * len(OPEN_STATES))
        return self._all(Order, f"SELECT {columns(Order)} FROM orders WHERE status IN ({marks})", OPEN_STATES)

    def running_orders(self) -> list[Order]:
        """Orders in a password check or a signing (`verifying`, `signing`), with their runner and lease."""
        return self._all(
            Order,
            f"SELECT {columns(Order)} FROM orders WHERE status IN (?, ?) ORDER BY created_at, ref",
            [str(OrderStatus.VERIFYING), str(OrderStatus.SIGNING)],
        )

    def take_over(self, ref: str, status: str, runner: str, at: float, lease_until: float) -> bool:
        """Make `runner` the order's runner until `lease_until` if it is still in `status` and its
        lease is free to take at `at`: run by `runner` itself, by nobody recorded, or expired.
        False (nothing changed) when another instance holds it, or it moved on. A conditional
        UPDATE, like `transition`: of instances taking over at once exactly one gets True."""
        cur = self.execute(
            "UPDATE orders SET runner=?, lease_until=? WHERE ref=? AND status=?"
            " AND (runner IS NULL OR runner=? OR lease_until IS NULL OR lease_until <= ?)",
            [runner, lease_until, ref, str(status), runner, at],
        )
        return bool(cur.rowcount == 1)

    def renew_lease(self, ref: str, runner: str, lease_until: float) -> bool:
        """Extend `runner`'s lease on an order it is still running (`verifying` or `signing`) to
        `lease_until`. False (nothing changed) when the order moved on or another instance took it
        over: a conditional UPDATE, like `take_over`, so a renewal never takes a lease back."""
        cur = self.execute(
            "UPDATE orders SET lease_until=? WHERE ref=? AND runner=? AND status IN (?, ?)",
            [lease_until, ref, runner, str(OrderStatus.VERIFYING), str(OrderStatus.SIGNING)],
        )
        return bool(cur.rowcount == 1)

    def transition(self, ref: str, from_states: Sequence[str], to_state: str, hint: str, **changes: Any) -> bool:
        """Move an order between states atomically; False when it was not in one of `from_states`
        from which `TRANSITIONS` allows the move. `IllegalTransition` when it allows it from none.

        The conditional UPDATE alone decides who wins, with no `SELECT ... FOR UPDATE` first: under
        SQLite transactions are serialised; under PostgreSQL (READ COMMITTED) a second UPDATE of the
        same row waits for the first transaction to end and then re-checks its WHERE against the row
        as committed, so of any number of concurrent transitions out of a state exactly one matches
        (rowcount 1) and the others see the new state (rowcount 0). Callers act on the returned bool,
        not on an order they read earlier.
        """
        sources = allowed_sources(from_states, to_state)
        marks = ",".join("?" * len(sources))
        sets = "".join(f", {k}=?" for k in changes)
        cur = self.execute(
            f"UPDATE orders SET status=?, hint_code=?{sets} WHERE ref=? AND status IN ({marks})",
            [str(to_state), str(hint), *changes.values(), ref, *map(str, sources)],
        )
        moved = bool(cur.rowcount == 1)
        if moved and to_state == "failed":
            # An order that ends unsigned keeps nothing of its documents (their digests are in the audit).
            self.delete_documents(ref)
        return moved

    def move(self, order: Order, from_states: Sequence[str], to_state: str, hint: str, **changes: Any) -> Order | None:
        """`transition` of `order`, and the order as the move left it (built from what was written, not
        read back); None when it did not move."""
        if not self.transition(order.ref, from_states, to_state, hint, **changes):
            return None
        return replace(order, status=str(to_state), hint_code=str(hint), **changes)

    def fail_order(self, ref: str, from_states: Sequence[str], hint: str, at: float, **details: Any) -> bool:
        """End an order as failed with `hint` if it is in one of `from_states`, and audit
        `order.failed` with the hint and `details`; False (nothing written) when it was not."""
        moved = self.transition(ref, from_states, OrderStatus.FAILED, hint, completed_at=at)
        if moved:
            self.audit("order.failed", ref, at, hint=str(hint), **details)
        return moved

    def orders_about(self, subject_id: str, kind: str) -> list[Order]:
        return self._all(
            Order,
            f"SELECT {columns(Order)} FROM orders WHERE subject_id=? AND kind=? ORDER BY created_at",
            [subject_id, kind],
        )

    def update_order(self, ref: str, **changes: Any) -> None:
        sets = ", ".join(f"{k}=?" for k in changes)
        self.execute(f"UPDATE orders SET {sets} WHERE ref=?", [*changes.values(), ref])

    def open_orders_expired_before(self, at: float, limit: int) -> list[Order]:
        """Open orders (other than signing) whose lifetime ended before `at`, oldest first."""
        return self._all(
            Order,
            f"SELECT {columns(Order)} FROM orders WHERE status IN ({','.join('?' * len(EXPIRING_STATES))})"
            " AND expires_at < ? ORDER BY expires_at LIMIT ?",
            [*map(str, EXPIRING_STATES), at, limit],
        )

"""Minors' guardians: a minor's BankID waits until a guardian approves it on their phone."""

from __future__ import annotations

from tillit.signer import errors
from tillit.signer.context import SignerContext
from tillit.signer.references import new_reference
from tillit.signer.states import HintCode, OrderKind, OrderMethod, OrderStatus
from tillit.signer.store.records import Customer, Order
from tillit.signer.store.tx import Tx

GUARDIAN_APPROVAL_SECONDS = 7 * 24 * 3600
GUARDIAN_KIOSK = "guardian"


class Guardians:
    def __init__(self, context: SignerContext) -> None:
        self.context = context

    def request_approval(self, minor: Customer, guardian: Customer) -> str:
        """An approval request on the guardian's phone naming the minor; returns its order ref."""
        context = self.context
        at = context.clock()
        with context.store.tx() as tx:
            device = tx.active_device(guardian.id)
            if device is None:
                raise errors.InvalidInput("the guardian must have an active app")
            order = Order.new(
                OrderKind.GUARDIAN,
                kiosk_id=GUARDIAN_KIOSK,
                reference=new_reference(),
                user_visible_data=f"Godkjenn BankID for {minor.name} (fødd {minor.born}) som verje",
                method=OrderMethod.APP,
                at=at,
                lifetime=GUARDIAN_APPROVAL_SECONDS,
                customer_id=guardian.id,
                device_id=device.id,
                subject_id=minor.id,
            )
            tx.insert_order(order)
            tx.audit("guardian.requested", minor.id, at, guardian=guardian.id, order=order.ref)
        context.notifier.notify(device.id)
        return order.ref

    def decided(self, tx: Tx, order: Order, approved: bool) -> None:
        """Called inside the transaction that records the guardian's decision."""
        at = self.context.clock()
        assert order.subject_id is not None
        minor = tx.customer(order.subject_id)
        if minor is None or minor.status != "pending_guardian":
            return
        if approved:
            tx.transition(
                order.ref,
                [OrderStatus.APPROVED],
                OrderStatus.COMPLETE,
                HintCode.COMPLETE,
                completed_at=at,
                level="guardian",
            )
            tx.update_customer(minor.id, status="active")
            tx.audit("guardian.approved", minor.id, at, guardian=order.customer_id, order=order.ref)
        else:
            tx.update_customer(minor.id, status="guardian_declined")
            tx.audit("guardian.declined", minor.id, at, guardian=order.customer_id, order=order.ref)

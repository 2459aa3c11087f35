"""An order as the kiosk that started it sees it: found (another kiosk's is not found), expired when
past its lifetime, and answered as a `CollectResponse`.

An open order past its lifetime becomes failed/expiredTransaction when next looked at. Looking needs
no writer's lock: `collect` reads first and writes only for the order that has just expired.
"""

from __future__ import annotations

from tillit.signer import errors
from tillit.signer.context import SignerContext
from tillit.signer.states import EXPIRING_STATES, HintCode, OrderStatus
from tillit.signer.store.records import Customer, Kiosk, Order
from tillit.signer.store.tx import Tx
from tillit.signer.wire import CollectResponse, CompletionData


def past_lifetime(order: Order, at: float) -> bool:
    """Open, not signing (a signing runs to its end), and past `expires_at`."""
    return order.status in EXPIRING_STATES and at >= order.expires_at


def expire(context: SignerContext, tx: Tx, order: Order) -> Order:
    """The order as it is once expired, if it is past its lifetime; else as it is."""
    if not past_lifetime(order, context.clock()):
        return order
    tx.fail_order(order.ref, [order.status], HintCode.EXPIRED_TRANSACTION, context.clock())
    refreshed = tx.order(order.ref)
    assert refreshed is not None
    return refreshed


def kiosk_order(context: SignerContext, tx: Tx, kiosk: Kiosk, ref: str) -> Order:
    """The kiosk's order, expired first if it is past its lifetime; 404 for another kiosk's."""
    return expire(context, tx, _find(tx, kiosk, ref))


def readable_kiosk_order(context: SignerContext, tx: Tx, kiosk: Kiosk, ref: str) -> Order | None:
    """`kiosk_order` in a read-only transaction; None when the order must be expired first."""
    order = _find(tx, kiosk, ref)
    return None if past_lifetime(order, context.clock()) else order


def _find(tx: Tx, kiosk: Kiosk, ref: str) -> Order:
    order = tx.order(ref)
    if order is None or order.kiosk_id != kiosk.id:
        raise errors.NotFound("no such order for this kiosk")
    return order


def collect(context: SignerContext, kiosk: Kiosk, ref: str) -> CollectResponse:
    """The order's state for its kiosk. Read without the writer's lock, unless it has just expired."""
    with context.store.read() as rtx:
        order = readable_kiosk_order(context, rtx, kiosk, ref)
        customer = rtx.customer(order.customer_id) if order is not None and order.customer_id else None
    if order is None:
        with context.store.tx() as tx:  # the order has just expired: record that
            order = kiosk_order(context, tx, kiosk, ref)
            customer = tx.customer(order.customer_id) if order.customer_id else None
    return collect_response(context, order, customer)


def collect_response(context: SignerContext, order: Order, customer: Customer | None) -> CollectResponse:
    """The kiosk's view: pending (any open state), complete with its completion data, or failed."""
    final = order.status in (OrderStatus.COMPLETE, OrderStatus.FAILED)
    status = str(order.status) if final else str(OrderStatus.PENDING)
    attempts_left = None
    if customer is not None and order.status in (OrderStatus.APPROVED, OrderStatus.VERIFYING):
        attempts_left = max(0, context.settings.password_attempts - customer.failed_passwords)
    hint = None if status == OrderStatus.COMPLETE else order.hint_code
    completion = CompletionData.model_validate_json(order.completion) if order.completion else None
    return CollectResponse(
        order_ref=order.ref,
        status=status,
        hint_code=hint,
        attempts_left=attempts_left,
        completion_data=completion,
    )

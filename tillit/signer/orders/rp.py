"""Orders of the BankID RP API face: started by a relying party (a kiosks row of role "rp",
signer/branch/relying_parties.py), collected and cancelled by it, in BankID's terms.

An RP order is an ordinary order (orders/start.py: the same states, limits, alreadyInProgress rule,
push to the named customer's phone) plus its `RpOrder` row: the start tokens, the QR secret, the end
user's address, the data the user does not see. Without `requirement.personalNumber` it starts for
nobody and a phone claims it by the QR code or the autostart token (orders/rp_claims.py). The
password is asked by the phone (`passwordBy` phone), not by a kiosk.

`collect` answers BankID's statuses and hint codes (`rp_hint`); the completion data is built once,
at the first collect that finds the order complete (orders/rp_completion.py).
"""

from __future__ import annotations

import secrets
import uuid

from tillit.signer import errors
from tillit.signer.context import SignerContext
from tillit.signer.kiosk_orders import kiosk_order, readable_kiosk_order
from tillit.signer.orders.collect import OrderOutcomes
from tillit.signer.orders.rp_completion import RpCompletions
from tillit.signer.orders.start import OrderStarts
from tillit.signer.rp_wire import Collected, Completion, Started
from tillit.signer.states import HintCode, OrderKind, OrderStatus
from tillit.signer.store.records import Kiosk, Order
from tillit.signer.store.relying_parties import RpOrder
from tillit.signer.store.tx import Tx

# Tillit's own reasons an order failed, as the BankID hint code an RP knows (docs/rp-api.md).
_FAILED_HINTS = {
    HintCode.EXPIRED_TRANSACTION: "expiredTransaction",
    HintCode.USER_CANCEL: "userCancel",
    HintCode.CANCELLED: "cancelled",
    HintCode.ALREADY_IN_PROGRESS: "cancelled",  # BankID: "a new order was started for the user"
    HintCode.NO_DEVICE: "startFailed",
    HintCode.BLOCKED: "certificateErr",
    HintCode.PASSWORD_LOCKED: "certificateErr",
    HintCode.SIGNING_FAILED: "certificateErr",
}
NO_SUCH_ORDER = "No such order"


def rp_hint(order: Order, rp: RpOrder) -> str:
    """BankID's hint code for the order as it stands: outstandingTransaction until a phone has it in
    hand (scanned, started, or, for a named customer, opened), userSign from then on; the failure's.
    An order whose time ran out before a phone took it or approved it is `startFailed` (the user
    never started the app), as it is for a person without BankID, whose order no phone could take."""
    if order.status == OrderStatus.FAILED:
        untouched = rp.claimed_at is None and order.approval is None
        if order.hint_code == HintCode.EXPIRED_TRANSACTION and untouched:
            return "startFailed"
        return _FAILED_HINTS.get(HintCode(order.hint_code), "startFailed")
    if order.status == OrderStatus.PENDING and rp.claimed_at is None:
        return "outstandingTransaction"
    return "userSign"


class RpOrders:
    def __init__(self, context: SignerContext, starts: OrderStarts, outcomes: OrderOutcomes) -> None:
        self.context = context
        self.starts = starts
        self.outcomes = outcomes
        self.completions = RpCompletions(context)

    def start(
        self,
        rp: Kiosk,
        kind: OrderKind,
        *,
        personal_number: str | None,
        end_user_ip: str,
        visible_text: str | None,
        visible_format: str | None,
        non_visible_data: str | None,
    ) -> Started:
        """Start an auth or sign order for the RP; 400 `alreadyInProgress` when the named customer
        has an order open (both are then cancelled, as BankID does)."""
        tokens = Started(
            order_ref="",
            auto_start_token=str(uuid.uuid4()),
            qr_start_token=str(uuid.uuid4()),
            qr_start_secret=secrets.token_hex(16),
        )

        def keep(tx: Tx, order: Order) -> None:
            tx.insert_rp_order(
                RpOrder(
                    order_ref=order.ref,
                    auto_start_token=tokens.auto_start_token,
                    qr_start_token=tokens.qr_start_token,
                    qr_start_secret=tokens.qr_start_secret,
                    end_user_ip=end_user_ip,
                    user_non_visible_data=non_visible_data,
                    visible_data_format=visible_format or "plaintext",
                    named_customer=int(personal_number is not None),
                )
            )

        if personal_number is not None:
            try:
                self.context.parse_number(personal_number)
            except errors.InvalidInput as e:
                raise errors.InvalidInput(f"requirement.personalNumber: {e.reason}") from None
        started = self.starts.start_order(
            rp, kind, personal_number, visible_text, on_insert=keep, withhold_failure=True
        )
        with self.context.store.read() as tx:
            order = tx.order(started.order_ref)
        if order is not None and order.hint_code == HintCode.ALREADY_IN_PROGRESS:
            raise errors.InvalidInput("an order for this user is already in progress", "alreadyInProgress")
        tokens.order_ref = started.order_ref
        return tokens

    def collect(self, rp: Kiosk, ref: str) -> Collected:
        """The order in BankID's terms; 400 invalidParameters for another RP's or an unknown one."""
        context = self.context
        with context.store.read() as rtx:
            order = self._readable(rtx, rp, ref)
            rp_order = rtx.rp_order(ref)
        if order is None:  # past its lifetime: record the expiry
            with context.store.tx() as tx:
                order = self._order(tx, rp, ref)
        if rp_order is None:
            raise errors.InvalidInput(NO_SUCH_ORDER)
        if order.status == OrderStatus.COMPLETE:
            completion = self.completions.completion(order, rp_order)
            return Collected(order_ref=ref, status="complete", completion_data=Completion.model_validate(completion))
        status = "failed" if order.status == OrderStatus.FAILED else "pending"
        return Collected(order_ref=ref, status=status, hint_code=rp_hint(order, rp_order))

    def cancel(self, rp: Kiosk, ref: str) -> None:
        """Cancel an open order (`OrderOutcomes.cancel`); one that has ended is no such order."""
        with self.context.store.read() as rtx:
            order = self._readable(rtx, rp, ref)
        if order is not None and not order.open:
            raise errors.InvalidInput(NO_SUCH_ORDER)
        try:
            answer = self.outcomes.cancel(rp, ref)
        except errors.NotFound:
            raise errors.InvalidInput(NO_SUCH_ORDER) from None
        except errors.Conflict as e:
            raise errors.InvalidInput(e.reason) from None
        if answer.status != "failed":
            raise errors.InvalidInput(NO_SUCH_ORDER)

    def _readable(self, tx: Tx, rp: Kiosk, ref: str) -> Order | None:
        try:
            return readable_kiosk_order(self.context, tx, rp, ref)
        except errors.NotFound:
            raise errors.InvalidInput(NO_SUCH_ORDER) from None

    def _order(self, tx: Tx, rp: Kiosk, ref: str) -> Order:
        try:
            return kiosk_order(self.context, tx, rp, ref)
        except errors.NotFound:
            raise errors.InvalidInput(NO_SUCH_ORDER) from None

"""The phone's side of RP API orders: taking an order by its animated QR code or its autostart token
(`POST /v1/app/scan`, `/v1/app/autostart`), and sending the password the phone asked for
(`POST /v1/app/requests/{orderRef}/password`).

The signer, not the phone, checks the QR code, as BankID's servers do for the app: the phone never
knows the qrStartSecret. A QR code reads bankid.<qrStartToken>.<qrTime>.<qrAuthCode>, qrTime the
whole seconds since the order started and qrAuthCode the hex HMAC-SHA256 of qrTime's ASCII under
the qrStartSecret (pybankid's `generate_qr_code_content`). It is taken while qrTime is within
`rp_qr_max_age_seconds` of the time since the start: a photographed code soon goes stale.

Taking an order gives it to the phone's customer, once (a second phone gets 409 `alreadyClaimed`);
an order whose RP named a customer is only for that customer's phone (403 `wrongCustomer`). A
customer who may not start an order at a kiosk (blocked, password locked, another order open) may
not take one here either, and the order fails as a kiosk's would have.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable

from tillit.signer import errors
from tillit.signer.context import SignerContext
from tillit.signer.kiosk_orders import expire
from tillit.signer.orders.approvals import app_request
from tillit.signer.orders.verify import Verification
from tillit.signer.states import EXPIRING_STATES, HintCode, OrderStatus
from tillit.signer.store.records import Customer, Device, Order
from tillit.signer.store.relying_parties import RpOrder
from tillit.signer.store.tx import Tx
from tillit.signer.wire import AppRequest, CollectResponse

QR_CONTENT = re.compile(r"bankid\.([0-9a-f-]{36})\.([0-9]{1,7})\.([0-9a-f]{64})")


def qr_auth_code(qr_start_secret: str, qr_time: int) -> str:
    """The qrAuthCode of second `qr_time`: hex HMAC-SHA256 of its ASCII under the secret."""
    return hmac.new(qr_start_secret.encode(), str(qr_time).encode(), hashlib.sha256).hexdigest()


class RpClaims:
    def __init__(self, context: SignerContext, verification: Verification) -> None:
        self.context = context
        self.verification = verification

    def scan(self, device: Device, qr_content: str) -> AppRequest:
        """Take the order of an animated QR code: 400 `invalidQr`, 410 `qrExpired`, 404 `notFound`."""
        found = QR_CONTENT.fullmatch(qr_content.strip())
        if found is None:
            raise errors.InvalidInput("not a BankID QR code (bankid.<token>.<seconds>.<code>)", "invalidQr")
        token, qr_time, code = found.group(1), int(found.group(2)), found.group(3)
        max_age = self.context.settings.rp_qr_max_age_seconds

        def check(order: Order, rp: RpOrder) -> None:
            if not hmac.compare_digest(qr_auth_code(rp.qr_start_secret, qr_time), code):
                raise errors.InvalidInput("the QR code's authentication code does not match", "invalidQr")
            if order.status == OrderStatus.PENDING and abs(self.context.clock() - order.created_at - qr_time) > max_age:
                raise errors.Gone(
                    f"the QR code is from {qr_time} s after the start, more than {max_age:g} s from now: scan the"
                    " code on the screen now",
                    "qrExpired",
                )

        return self._claim(device, "scan", lambda tx: tx.rp_order_by_qr_token(token), check)

    def autostart(self, device: Device, token: str) -> AppRequest:
        """Take the order of an autostart token (the app started on the device the user is on)."""
        return self._claim(device, "autostart", lambda tx: tx.rp_order_by_auto_start_token(token.strip()), None)

    def _claim(
        self,
        device: Device,
        how: str,
        lookup: Callable[[Tx], RpOrder | None],
        check: Callable[[Order, RpOrder], None] | None,
    ) -> AppRequest:
        context = self.context
        refusal: errors.SignerError | None = None
        request: AppRequest | None = None
        with context.store.tx() as tx:
            rp = lookup(tx)
            order = tx.order(rp.order_ref) if rp is not None else None
            if rp is None or order is None:
                raise errors.NotFound("no order has this token", "notFound")
            order = expire(context, tx, order)
            if check is not None:
                check(order, rp)
            if order.open and rp.claimed_at is not None:  # approved or being checked: still someone's
                raise errors.Conflict("another phone has already taken this order", "alreadyClaimed")
            if order.status != OrderStatus.PENDING:
                raise errors.NotFound("the order is over", "notFound")
            if rp.named_customer and order.customer_id != device.customer_id:
                raise errors.Forbidden("the relying party started this order for another person", "wrongCustomer")
            if rp.claimed_at is not None:
                raise errors.Conflict("another phone has already taken this order", "alreadyClaimed")
            customer = tx.customer(device.customer_id)
            assert customer is not None
            at = context.clock()
            # Also for a named customer: a start that would have failed for them (blocked, password
            # locked) was withheld, the order left pending for nobody to tell (orders/start.py).
            refusal = self._customer_refusal(tx, order, customer, at)
            if refusal is None:
                if not tx.claim_rp_order(order.ref, customer.id, device.id, at):
                    raise errors.Conflict("another phone has already taken this order", "alreadyClaimed")
                tx.audit("order.claimed", order.ref, at, device=device.id, how=how)
                request = app_request(tx, tx.order(order.ref) or order)
        if refusal is not None:
            raise refusal  # after the commit: the order failed as a kiosk's would have
        assert request is not None
        context.notifier.notify(device.id)
        return request

    def _customer_refusal(self, tx: Tx, order: Order, customer: Customer, at: float) -> errors.SignerError | None:
        """Why this customer may not take the order (it then fails, and so do their other open
        orders when there are any: two at once is what phishing looks like), or None."""
        hint: HintCode | None = None
        refusal: errors.SignerError | None = None
        if customer.status == "blocked":
            hint, refusal = HintCode.BLOCKED, errors.Forbidden("this BankID is blocked", "blocked")
        elif customer.status != "active":
            hint, refusal = HintCode.NO_DEVICE, errors.Forbidden("this BankID is not active", "notActive")
        elif customer.password_locked:
            hint = HintCode.PASSWORD_LOCKED
            refusal = errors.Forbidden("the password is locked: reset it at a kiosk", "passwordLocked")
        else:
            others = [expire(self.context, tx, o) for o in tx.open_orders_for_customer(customer.id)]
            others = [o for o in others if o.open and o.ref != order.ref]
            if others:
                for other in others:
                    tx.fail_order(other.ref, EXPIRING_STATES, HintCode.ALREADY_IN_PROGRESS, at)
                hint = HintCode.ALREADY_IN_PROGRESS
                refusal = errors.Conflict("another order for this person is in progress", "alreadyInProgress")
        if hint is not None:
            tx.fail_order(order.ref, [OrderStatus.PENDING], hint, at, device=None)
        return refusal

    def password(self, device: Device, ref: str, password: str) -> CollectResponse:
        """The password the phone asked for after approving an RP API order: the kiosk's password
        check (`Verification.submit_password`: the same Argon2id, failure count and lock)."""
        with self.context.store.read() as tx:
            order = tx.order(ref)
            rp = tx.rp_order(ref) if order is not None else None
            kiosk = tx.kiosk(order.kiosk_id) if order is not None else None
        if order is None or kiosk is None:
            raise errors.NotFound("no such request for this device")
        if order.device_id != device.id:
            raise errors.Forbidden("this request is another device's", "wrongDevice")
        if rp is None:
            raise errors.Conflict("this order's password is asked at the kiosk", "passwordAtKiosk")
        answer = self.verification.submit_password(kiosk, ref, password)
        answer.completion_data = None  # the relying party's to collect, not the phone's
        return answer

"""Starting an order at the signer, and its first status (the screens run these in a worker with
`call_signer`, then ask the navigator for the screen that status needs: `ShowOrder`)."""

from __future__ import annotations

import contextlib

from tillit.kiosk.client import Agreement, SignerClient, SignerError
from tillit.kiosk.state import METHODS, Method, Order
from tillit.signer.wire import CollectResponse

Started = tuple[Order, CollectResponse]


def log_in_remembered(client: SignerClient, number: str, text: str) -> Started | None:
    """A login with the customer's remembered method; None when there is none to use.

    No remembered method (a first login, the first after activating the app) means the customer chooses
    explicitly; so does a signer that will not say now (rate-limited: 429), or says something unknown."""
    try:
        remembered = client.login_method(number)
    except SignerError as error:
        if error.unreachable:
            raise
        return None
    method = next((m for m in METHODS if m == remembered), None)
    if method is None:
        return None
    return log_in(client, number, method, text, remembered=True)


def log_in(client: SignerClient, number: str, method: Method, text: str, remembered: bool = False) -> Started:
    """POST /v1/auth, then the first collect (an order may fail at once: noDevice, blocked, …)."""
    started = client.auth(number, method=method, user_visible_data=text)
    order = Order(
        "auth", method, number, started.order_ref, started.reference, started.expires_at, remembered=remembered
    )
    return order, client.collect(order.order_ref)


def reset_password(client: SignerClient, number: str, text: str, open_order: Order | None) -> Started:
    """Forgotten password: POST /v1/reset, the customer approves on the phone, then the control questions.

    A login still open (waiting for the password) is cancelled first: a second order for the same
    customer would stop both (alreadyInProgress)."""
    if open_order is not None:
        with contextlib.suppress(SignerError):  # already ended: nothing to cancel
            client.cancel(open_order.order_ref)
    started = client.reset_start(number, user_visible_data=text)
    order = Order("reset", "app", number, started.order_ref, started.reference, started.expires_at)
    return order, client.collect(order.order_ref)


def sign(client: SignerClient, number: str, agreement: Agreement, text: str) -> Started:
    """POST /v1/sign with the agreement's id; the customer approves on the phone again."""
    started = client.sign_agreement(number, agreement.id, text)
    order = Order("sign", "app", number, started.order_ref, started.reference, started.expires_at, agreement)
    return order, client.collect(order.order_ref)

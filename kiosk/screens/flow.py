"""The order flow between screens: start an order, and go where its status says.

Screens import each other only through here (lazily), so each screen file stays one screen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kiosk.client import Agreement, SignerError
from kiosk.state import Method, Order
from signer.wire import CollectResponse

if TYPE_CHECKING:
    from kiosk.screens.base import KioskScreen


def start_login(
    screen: KioskScreen, number: str, method: Method, failed: Callable[[SignerError], bool] | None = None
) -> None:
    """POST /v1/auth, then the first collect (an order may fail at once: noDevice, blocked, …)."""
    kiosk = screen.kiosk
    client = kiosk.client

    def call() -> tuple[Order, CollectResponse]:
        started = client.auth(number, method=method)
        order = Order("auth", method, number, started.order_ref, started.reference, started.expires_at)
        return order, client.collect(order.order_ref)

    screen.call_signer(call, lambda result: route(screen, *result), failed)


def start_signing(
    screen: KioskScreen,
    agreement: Agreement,
    user_visible_data: str,
    failed: Callable[[SignerError], bool] | None = None,
) -> None:
    """POST /v1/sign with the agreement's id; the customer approves on the phone again."""
    kiosk = screen.kiosk
    session = kiosk.session
    assert session is not None
    client = kiosk.client
    number = session.customer.personal_number

    def call() -> tuple[Order, CollectResponse]:
        started = client.sign_agreement(number, agreement.id, user_visible_data)
        order = Order("sign", "app", number, started.order_ref, started.reference, started.expires_at, agreement)
        return order, client.collect(order.order_ref)

    screen.call_signer(call, lambda result: route(screen, *result), failed)


def route(screen: KioskScreen, order: Order, response: CollectResponse) -> None:
    """Show the screen for the order's state: waiting, code, password, or what went wrong."""
    from kiosk.screens.code import CodeScreen
    from kiosk.screens.failed import FailedScreen
    from kiosk.screens.password import PasswordScreen
    from kiosk.screens.waiting import WaitingScreen

    kiosk = screen.kiosk
    kiosk.order = order
    if response.status == "failed":
        kiosk.order = None
        kiosk.go(FailedScreen(response.hint_code, kind=order.kind))
    elif response.status == "pending" and response.hint_code in ("userSign", "wrongPassword"):
        kiosk.go(PasswordScreen())
    elif response.status == "pending" and order.method == "codedevice":
        kiosk.go(CodeScreen())
    elif response.status == "pending":
        kiosk.go(WaitingScreen())
    else:  # complete without a password cannot happen for app and code-device orders
        kiosk.order = None
        kiosk.go(FailedScreen(response.hint_code, kind=order.kind))


def back_to_start(screen: KioskScreen) -> None:
    """After an order ends: the agreements when someone is logged in, else the welcome screen."""
    from kiosk.screens.agreements import AgreementsScreen

    kiosk = screen.kiosk
    kiosk.order = None
    if kiosk.session is not None:
        kiosk.go(AgreementsScreen())
    else:
        kiosk.reset()


def cancel_order(screen: KioskScreen) -> None:
    """Cancel the open order (Escape), then back to the start. An order that has already ended is fine."""
    kiosk = screen.kiosk
    order = kiosk.order
    if order is None:
        return
    kiosk.order = None

    def gone(error: SignerError) -> bool:
        back_to_start(screen)
        return not error.unreachable

    screen.call_signer(lambda: kiosk.client.cancel(order.order_ref), lambda _: back_to_start(screen), gone)

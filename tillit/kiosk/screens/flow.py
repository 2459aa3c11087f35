"""The order flow between screens: start an order, and go where its status says.

Screens import each other only through here (lazily), so each screen file stays one screen.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, get_args

from tillit.kiosk.client import Agreement, SignerError
from tillit.kiosk.state import Customer, Method, Order, Session
from tillit.signer.wire import CollectResponse, CompletionData

if TYPE_CHECKING:
    from tillit.kiosk.screens.base import KioskScreen

METHODS: tuple[Method, ...] = get_args(Method)


def log_in(screen: KioskScreen, number: str, failed: Callable[[SignerError], bool] | None = None) -> None:
    """After the number: straight to the customer's remembered login method, else the method screen.

    No remembered method (a first login, the first after activating the app) means the customer chooses
    explicitly; so does a signer that will not say now (rate-limited: 429), or says something unknown."""
    kiosk = screen.kiosk
    client = kiosk.client

    def call() -> tuple[Order, CollectResponse] | None:
        try:
            remembered = client.login_method(number)
        except SignerError as error:
            if error.unreachable:
                raise
            return None
        method = next((m for m in METHODS if m == remembered), None)
        if method is None:
            return None
        return _start_auth(screen, number, method, remembered=True)

    def then(result: tuple[Order, CollectResponse] | None) -> None:
        if result is None:
            from tillit.kiosk.screens.method import MethodScreen

            kiosk.go(MethodScreen(number))
        else:
            route(screen, *result)

    screen.call_signer(call, then, failed)


def start_login(
    screen: KioskScreen, number: str, method: Method, failed: Callable[[SignerError], bool] | None = None
) -> None:
    """POST /v1/auth, then the first collect (an order may fail at once: noDevice, blocked, …)."""
    screen.call_signer(lambda: _start_auth(screen, number, method), lambda result: route(screen, *result), failed)


def _start_auth(
    screen: KioskScreen, number: str, method: Method, remembered: bool = False
) -> tuple[Order, CollectResponse]:
    client = screen.kiosk.client
    started = client.auth(number, method=method, user_visible_data=screen.t("order.text.auth"))
    order = Order(
        "auth", method, number, started.order_ref, started.reference, started.expires_at, remembered=remembered
    )
    return order, client.collect(order.order_ref)


def start_reset(screen: KioskScreen, number: str, failed: Callable[[SignerError], bool] | None = None) -> None:
    """Forgotten password: POST /v1/reset, the customer approves on the phone, then the control questions.

    A login still open (waiting for the password) is cancelled first: a second order for the same
    customer would stop both (alreadyInProgress)."""
    kiosk = screen.kiosk
    client = kiosk.client
    open_order = kiosk.order
    text = screen.t("order.text.reset")

    def call() -> tuple[Order, CollectResponse]:
        if open_order is not None:
            with contextlib.suppress(SignerError):  # already ended: nothing to cancel
                client.cancel(open_order.order_ref)
        started = client.reset_start(number, user_visible_data=text)
        order = Order("reset", "app", number, started.order_ref, started.reference, started.expires_at)
        return order, client.collect(order.order_ref)

    def gone(error: SignerError) -> bool:
        if open_order is not None and kiosk.order is open_order:
            back_to_start(screen)  # the login was cancelled: the error shows over the start
            return False
        return failed(error) if failed is not None else False

    screen.call_signer(call, lambda result: route(screen, *result), gone)


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
    """Show the screen for the order's state: waiting, code, password, logged in, the reset's questions,
    or what went wrong."""
    from tillit.kiosk.screens.code import CodeScreen
    from tillit.kiosk.screens.failed import FailedScreen
    from tillit.kiosk.screens.password import PasswordScreen
    from tillit.kiosk.screens.waiting import WaitingScreen

    kiosk = screen.kiosk
    kiosk.order = order
    pending = response.status == "pending"
    if response.status == "failed":
        kiosk.order = None
        kiosk.go(FailedScreen(response.hint_code, kind=order.kind, number=order.personal_number))
    elif order.kind == "reset":
        _route_reset(screen, order, response)
    elif pending and response.hint_code in ("userSign", "wrongPassword"):
        # A biometric login the app has not turned on: the signer made it an ordinary one (password).
        kiosk.go(PasswordScreen(note="password.no_biometric" if order.method == "biometric" else None))
    elif pending and order.method == "codedevice":
        kiosk.go(CodeScreen())
    elif pending:
        kiosk.go(WaitingScreen())
    elif order.kind == "auth" and order.method == "biometric" and response.completion_data is not None:
        logged_in(screen, order, response.completion_data)  # biometric or app PIN: no password step
    else:  # complete without a password cannot happen for app and code-device orders
        kiosk.order = None
        kiosk.go(FailedScreen(response.hint_code, kind=order.kind, number=order.personal_number))


def _route_reset(screen: KioskScreen, order: Order, response: CollectResponse) -> None:
    from tillit.kiosk.screens.reset_done import ResetDoneScreen
    from tillit.kiosk.screens.reset_questions import ResetQuestionsScreen
    from tillit.kiosk.screens.waiting import WaitingScreen

    kiosk = screen.kiosk
    if response.status == "pending" and response.hint_code == "userSign":
        kiosk.go(ResetQuestionsScreen())
    elif response.status == "pending":
        kiosk.go(WaitingScreen())
    else:
        kiosk.order = None
        kiosk.go(ResetDoneScreen(order.personal_number))


def reset_trouble(screen: KioskScreen, error: SignerError) -> bool:
    """What the reset screens do with the signer's refusals; True when handled here.

    No control questions: the order cannot go on, the customer is sent to the counter. An order that
    has ended (expired, cancelled, blocked): its own status says why."""
    from tillit.kiosk.screens.failed import FailedScreen

    kiosk = screen.kiosk
    order = kiosk.order
    if order is None:
        return False
    if error.code == "noControlQuestions":
        kiosk.order = None
        kiosk.cancel_quietly(order.order_ref)
        kiosk.go(FailedScreen("noControlQuestions", kind="reset", number=order.personal_number))
        return True
    if error.code == "orderEnded":
        screen.call_signer(
            lambda: kiosk.client.collect(order.order_ref), lambda response: route(screen, order, response)
        )
        return True
    return False


def logged_in(screen: KioskScreen, order: Order, data: CompletionData) -> None:
    """A completed login: the completion token is the customer session; their agreements next."""
    from tillit.kiosk.screens.agreements import AgreementsScreen

    kiosk = screen.kiosk
    kiosk.session = Session(Customer.from_completion(data.customer), data.token, order.order_ref)
    kiosk.order = None
    kiosk.go(AgreementsScreen())


def back_to_start(screen: KioskScreen) -> None:
    """After an order ends: the agreements when someone is logged in, else the welcome screen."""
    from tillit.kiosk.screens.agreements import AgreementsScreen

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


def choose_another(screen: KioskScreen) -> None:
    """Choose another BankID (F4): cancel the order started with the remembered method, then the method screen."""
    from tillit.kiosk.screens.method import MethodScreen

    kiosk = screen.kiosk
    order = kiosk.order
    if order is None:
        return
    kiosk.order = None

    def choose(_: object = None) -> None:
        kiosk.go(MethodScreen(order.personal_number))

    def gone(error: SignerError) -> bool:
        choose()
        return not error.unreachable

    screen.call_signer(lambda: kiosk.client.cancel(order.order_ref), choose, gone)

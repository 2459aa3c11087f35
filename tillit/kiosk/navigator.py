"""The kiosk's one navigator: it maps each step a screen asks for (kiosk/navigation.py) to the next
screen, and keeps the kiosk's open order and customer session in step with it. Screens never create
each other; only this module imports them all.

It also puts the kiosk's dialogs over the screens: a signer error, the feedback question.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, assert_never

from textual.app import App
from textual.screen import ModalScreen, Screen

from tillit.kiosk.client import SignerError
from tillit.kiosk.context import KioskContext
from tillit.kiosk.dialogs.feedback import FeedbackDialog, FeedbackResult
from tillit.kiosk.dialogs.message import MessageDialog
from tillit.kiosk.navigation import (
    AskFeedback,
    BackToStart,
    ShowAgreement,
    ShowAgreements,
    ShowBlock,
    ShowError,
    ShowFailure,
    ShowLoggedIn,
    ShowMethods,
    ShowNewPassword,
    ShowNumber,
    ShowOrder,
    ShowPassword,
    ShowQuestions,
    ShowReceipt,
    ShowSigning,
    ShowWelcome,
    StartOver,
    Step,
    TypeDigits,
)
from tillit.kiosk.screens.agreements import AgreementsScreen
from tillit.kiosk.screens.block import BlockScreen
from tillit.kiosk.screens.code import CodeScreen
from tillit.kiosk.screens.failed import FailedScreen
from tillit.kiosk.screens.method import MethodScreen
from tillit.kiosk.screens.number import NumberScreen
from tillit.kiosk.screens.password import PasswordScreen
from tillit.kiosk.screens.receipt import ReceiptScreen
from tillit.kiosk.screens.reset_done import ResetDoneScreen
from tillit.kiosk.screens.reset_password import ResetPasswordScreen
from tillit.kiosk.screens.reset_questions import ResetQuestionsScreen
from tillit.kiosk.screens.signing import SigningScreen
from tillit.kiosk.screens.viewer import ViewerScreen
from tillit.kiosk.screens.waiting import WaitingScreen
from tillit.kiosk.screens.welcome import WelcomeScreen
from tillit.kiosk.state import Customer, Order, Session
from tillit.signer.wire import CollectResponse, CompletionData


class Navigator:
    """Shows the screen each step asks for, in place of the current one."""

    def __init__(self, app: App[Any], kiosk: KioskContext) -> None:
        self.app = app
        self.kiosk = kiosk
        """The same app, as the kiosk's state (settings, client, session, order, words)."""
        self.typing_into: NumberScreen | None = None
        """The number screen the welcome screen opened, for the digits typed while it opens."""
        self.asked_feedback: set[str] = set()
        """The customers (their id at the signer, not their number) asked for feedback while the kiosk
        runs: at most once each, whether they log in once or again."""

    def navigate(self, step: Step) -> None:
        kiosk = self.kiosk
        match step:
            case ShowWelcome():
                self.go(WelcomeScreen())
            case StartOver(notice, feedback_for):
                self.reset(notice, self.feedback_from(feedback_for))
            case BackToStart():
                self.back_to_start()
            case ShowNumber(typed):
                screen = NumberScreen(typed)
                self.go(screen)
                self.typing_into = screen
            case TypeDigits(digits):
                if self.typing_into is not None:
                    self.typing_into.type_digits(digits)
            case ShowMethods(number):
                self.go(MethodScreen(number))
            case ShowBlock(number):
                self.go(BlockScreen(number))
            case ShowOrder(order, response):
                self.route(order, response)
            case ShowLoggedIn(order, completion):
                self.logged_in(order, completion)
            case ShowPassword(order, attempts_left):
                self.go(PasswordScreen(order, attempts_left=attempts_left))
            case ShowSigning(order, password):
                self.go(SigningScreen(order, password))
            case ShowReceipt(receipt):
                kiosk.order = None
                self.go(ReceiptScreen(receipt))
            case ShowAgreements(feedback_for):
                self.go(AgreementsScreen(feedback_for=self.feedback_from(feedback_for)))
            case ShowAgreement(agreement):
                self.go(ViewerScreen(agreement))
            case ShowQuestions(order, questions, attempts_left):
                self.go(ResetQuestionsScreen(order, questions, attempts_left=attempts_left))
            case ShowNewPassword(order, questions, answers):
                self.go(ResetPasswordScreen(order, questions, answers))
            case ShowFailure(hint, kind, number, error, cancel):
                kiosk.order = None
                if cancel is not None:
                    self.forget(cancel.order_ref, None)
                self.go(FailedScreen(hint, kind=kind, number=number))
                if error is not None:
                    self.show_error(error)
            case ShowError(error):
                self.show_error(error)
            case AskFeedback(order_ref):
                self.ask_feedback(order_ref)
            case _:
                assert_never(step)

    def start(self) -> None:
        """The first screen: welcome."""
        self.app.push_screen(WelcomeScreen())

    def go(self, screen: Screen[Any]) -> None:
        """Show the next step of the flow in place of the current one (dialogs on top are closed)."""
        app = self.app
        self.typing_into = None
        while isinstance(app.screen, ModalScreen) and len(app.screen_stack) > 1:
            app.pop_screen()
        app.switch_screen(screen)

    def route(self, order: Order, response: CollectResponse) -> None:
        """Show the screen for the order's state: waiting, code, password, logged in, the reset's questions,
        or what went wrong."""
        kiosk = self.kiosk
        kiosk.order = order
        pending = response.status == "pending"
        if response.status == "failed":
            kiosk.order = None
            self.go(FailedScreen(response.hint_code, kind=order.kind, number=order.personal_number))
        elif order.kind == "reset":
            self.route_reset(order, response)
        elif pending and response.hint_code in ("userSign", "wrongPassword"):
            # A biometric login the app has not turned on: the signer made it an ordinary one (password).
            note = "password.no_biometric" if order.method == "biometric" else None
            self.go(PasswordScreen(order, note=note))
        elif pending and order.method == "codedevice":
            self.go(CodeScreen(order))
        elif pending:
            self.go(WaitingScreen(order))
        elif order.kind == "auth" and order.method == "biometric" and response.completion_data is not None:
            self.logged_in(order, response.completion_data)  # biometric or app PIN: no password step
        else:  # complete without a password cannot happen for app and code-device orders
            kiosk.order = None
            self.go(FailedScreen(response.hint_code, kind=order.kind, number=order.personal_number))

    def route_reset(self, order: Order, response: CollectResponse) -> None:
        if response.status == "pending" and response.hint_code == "userSign":
            self.go(ResetQuestionsScreen(order))
        elif response.status == "pending":
            self.go(WaitingScreen(order))
        else:
            self.kiosk.order = None
            self.go(ResetDoneScreen(order.personal_number))

    def feedback_from(self, order_ref: str | None) -> str | None:
        """`order_ref` to ask the logged-in customer's feedback on, unless they were asked before (in
        this session or an earlier one); from now on they count as asked."""
        session = self.kiosk.session
        if not order_ref or session is None:
            return order_ref
        customer = session.customer.id or session.token  # no id from the signer: this session alone
        if customer in self.asked_feedback:
            return None
        session.feedback_asked = True
        self.asked_feedback.add(customer)
        return order_ref

    def logged_in(self, order: Order, data: CompletionData) -> None:
        """A completed login: the completion token is the customer session; their agreements next."""
        kiosk = self.kiosk
        customer = Customer.from_completion(data.customer)
        kiosk.session = Session(customer, data.token, order.order_ref)
        kiosk.session.feedback_asked = bool(customer.id) and customer.id in self.asked_feedback
        kiosk.order = None
        self.go(AgreementsScreen())

    def back_to_start(self) -> None:
        """After an order ends: the agreements when someone is logged in, else the welcome screen (the
        same customer, in the language they chose)."""
        self.kiosk.order = None
        if self.kiosk.session is not None:
            self.go(AgreementsScreen())
        else:
            self.go(WelcomeScreen())

    def reset(self, notice: str | None = None, feedback_for: str | None = None) -> None:
        """Back to the welcome screen: cancel an open order, end the customer session, forget both.
        `feedback_for`: a completed order to ask the customer's feedback on, over the welcome screen.

        The notice and the feedback question are in the language the customer used; the welcome screen
        goes back to the kiosk's own language when nobody uses it (`next_customer`)."""
        kiosk = self.kiosk
        order, session = kiosk.order, kiosk.session
        kiosk.order, kiosk.session = None, None
        if order is not None or session is not None:
            self.forget(order.order_ref if order else None, session.token if session else None)
        kiosk.last_activity = time.monotonic()
        self.go(WelcomeScreen(notice=notice, feedback_for=feedback_for))

    def next_customer(self) -> None:
        """A welcome screen nobody uses: back to the kiosk's own language, without the last customer's
        notice, for whoever comes next. Nothing happens when it is so already, or something covers it."""
        kiosk, screen = self.kiosk, self.app.screen
        if not isinstance(screen, WelcomeScreen) or screen.opened:
            return
        if kiosk.language == kiosk.settings.language and not screen.notice:
            return
        kiosk.language = kiosk.settings.language
        kiosk.last_activity = time.monotonic()
        self.go(WelcomeScreen())

    def forget(self, order_ref: str | None, token: str | None) -> None:
        """Cancel an order and end a session at the signer, in the background."""
        client = self.kiosk.client

        def forget() -> None:
            # An order already final, or a signer away: the order expires and the session ends by themselves.
            if order_ref:
                with contextlib.suppress(SignerError):
                    client.cancel(order_ref)
            if token:
                with contextlib.suppress(SignerError):
                    client.end_session(token)

        self.app.run_worker(forget, thread=True, group="forget", exit_on_error=False)

    def show_error(self, error: SignerError) -> None:
        """A signer failure in words for the customer, in a dialog (an ended session goes home)."""
        if error.session_ended and self.kiosk.session is not None:
            self.reset(notice="error.session")
            return
        t = self.kiosk.t
        self.app.push_screen(MessageDialog(t("error.title"), self.error_text(error), variant="error"))

    def error_text(self, error: SignerError) -> str:
        """The customer's words for a signer error code; the signer's own reason only for codes without any."""
        t = self.kiosk.t
        if error.unreachable:
            return t("error.unavailable")
        key = f"error.code.{error.code}"
        text = t(key)
        return text if text != key else t("error.signer", reason=error.reason)

    def ask_feedback(self, order_ref: str) -> None:
        """The feedback question ("Me ynskjer di tilbakemelding!") over the current screen; a rating goes
        to the signer in the background, with a thank-you. Skipped, a signer away, feedback already
        given: nothing more is said."""
        if not order_ref:
            return
        client = self.kiosk.client

        def send(result: FeedbackResult) -> None:
            with contextlib.suppress(SignerError):
                client.feedback(order_ref, result.rating, result.comment)

        thanks = self.kiosk.t("feedback.thanks")  # in the language of the customer who answers

        def answered(result: FeedbackResult | None) -> None:
            if result is not None:
                self.app.notify(thanks, timeout=4)
                self.app.run_worker(lambda: send(result), thread=True, group="feedback", exit_on_error=False)

        self.app.push_screen(FeedbackDialog(), answered)

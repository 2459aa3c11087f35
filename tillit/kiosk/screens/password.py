"""The BankID password, after the phone (or the code device) approved: the lead says which approved it,
and Enter says "Sign" when the password completes a signature. Attempts left after a failure; five wrong
in a row lock the password, and the failure screen explains the lock. F5: forgotten password."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static

from tillit.kiosk.client import SignerError
from tillit.kiosk.screens.base import KioskScreen
from tillit.kiosk.screens.flow import cancel_order, logged_in, route, start_reset
from tillit.kiosk.screens.waiting import time_left
from tillit.kiosk.state import Order
from tillit.signer.wire import CollectResponse


class PasswordScreen(KioskScreen):
    CSS_PATH = "password.tcss"
    AUTO_FOCUS = "#password"
    TYPE_INTO = "#password"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Log in", priority=True, id="password.submit"),
        Binding("enter", "submit_signature", "Sign", priority=True, id="password.sign"),
        Binding("escape", "cancel", "Cancel", id="password.cancel"),
        Binding("f5", "forgotten", "Forgotten password", id="password.forgotten-password"),
    ]

    def __init__(self, attempts_left: int | None = None, note: str | None = None) -> None:
        super().__init__()
        self.attempts_left = attempts_left
        self.note = note
        """A word on why the password is asked (a biometric login not turned on in the app)."""
        self.busy = False

    @property
    def order(self) -> Order:
        assert self.kiosk.order is not None
        return self.kiosk.order

    def compose_body(self) -> ComposeResult:
        order = self.order
        yield Static(self.t("password.title"), classes="title")
        yield Static(self.t(self.lead(order)), classes="lead")
        if self.note:
            yield Static(self.t(self.note), id="note")
        yield Static(f"{self.t('common.reference')}: [b]{order.reference}[/b]", id="reference", classes="muted")
        yield Static(self.t("password.label"), id="label")
        yield Input(password=True, max_length=256, id="password")
        yield Static("", id="status")
        yield Static(self.t("password.lock_warning"), id="warning", classes="muted")

    @staticmethod
    def lead(order: Order) -> str:
        """What approved the order (the app or the code device), and what the password does."""
        if order.kind == "sign":
            return "password.lead_sign"
        return "password.lead_codedevice" if order.method == "codedevice" else "password.lead"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # One of the two Enter bindings, so that the footer names what Enter does here.
        signing = self.kiosk.order is not None and self.kiosk.order.kind == "sign"
        if action == "submit":
            return not signing
        if action == "submit_signature":
            return signing
        return True

    def on_mount(self) -> None:
        if self.attempts_left is not None:
            self.wrong(self.attempts_left)
        self.tick()
        self.set_interval(1.0, self.tick)

    def tick(self) -> None:
        if self.kiosk.order is None:
            return
        remaining = self.order.expires_at - self.kiosk.clock()
        left = self.t("common.expires_in", time=time_left(remaining)) if remaining > 0 else self.t("common.expired")
        reference = f"{self.t('common.reference')}: [b]{self.order.reference}[/b] · {left}"
        self.query_one("#reference", Static).update(reference)

    def say(self, text: str, error: bool = True) -> None:
        status = self.query_one("#status", Static)
        status.update(text)
        status.set_class(error, "error")

    def wrong(self, attempts_left: int | None) -> None:
        field = self.query_one("#password", Input)
        field.value = ""
        field.focus()
        if attempts_left == 1:
            self.say(self.t("password.wrong_last"))
        elif attempts_left is not None:
            self.say(self.t("password.wrong", attempts=attempts_left))
        else:
            self.say(self.t("hint.wrongPassword"))

    def action_submit(self) -> None:
        self.after_typing(self.submit)

    def action_submit_signature(self) -> None:
        self.after_typing(self.submit)

    def submit(self) -> None:
        if self.busy or self.kiosk.order is None:
            return
        password = self.query_one("#password", Input).value
        if not password:
            self.say(self.t("password.empty"))
            return
        order = self.order
        if order.kind == "sign":
            from tillit.kiosk.screens.signing import SigningScreen

            self.kiosk.go(SigningScreen(password))
            return
        self.busy = True
        self.say(self.t("password.checking"), error=False)
        self.call_signer(lambda: self.kiosk.client.password(order.order_ref, password), self.answered, self.failed)

    def answered(self, response: CollectResponse) -> None:
        self.busy = False
        order = self.order
        if response.status == "complete" and response.completion_data is not None:
            logged_in(self, order, response.completion_data)
        elif response.status == "pending" and response.hint_code == "wrongPassword":
            self.wrong(response.attempts_left)
        else:
            route(self, order, response)

    def failed(self, error: SignerError) -> bool:
        self.busy = False
        self.say("")
        return False

    def action_cancel(self) -> None:
        cancel_order(self)

    def action_forgotten(self) -> None:
        """A new password with the control questions; this order is cancelled first."""
        if self.busy or self.kiosk.order is None:
            return
        self.busy = True
        self.say(self.t("common.working"), error=False)
        start_reset(self, self.order.personal_number, self.failed)

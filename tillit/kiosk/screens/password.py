"""The BankID password, after the phone (or the code device) approved: the lead says which approved it,
and Enter says "Sign" when the password completes a signature. Attempts left after a failure; five wrong
in a row lock the password, and the failure screen explains the lock. F5: forgotten password."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static

from tillit.kiosk.client import SignerError
from tillit.kiosk.navigation import ShowLoggedIn, ShowSigning
from tillit.kiosk.screens.base import OrderScreen
from tillit.kiosk.state import Order
from tillit.signer.wire import CollectResponse


class PasswordScreen(OrderScreen):
    CSS_PATH = "password.tcss"
    AUTO_FOCUS = "#password"
    TYPE_INTO = "#password"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Log in", priority=True, id="password.submit"),
        Binding("enter", "submit_signature", "Sign", priority=True, id="password.sign"),
        Binding("escape", "cancel", "Cancel", id="password.cancel"),
        Binding("f5", "forgotten", "Forgotten password", id="password.forgotten-password"),
    ]

    def __init__(self, order: Order, attempts_left: int | None = None, note: str | None = None) -> None:
        super().__init__(order)
        self.attempts_left = attempts_left
        self.note = note
        """A word on why the password is asked (a biometric login not turned on in the app)."""

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
        self.keep_reference_line()

    def wrong(self, attempts_left: int | None) -> None:
        field = self.query_one("#password", Input)
        field.value = ""
        field.focus()
        if attempts_left is not None:
            self.say(self.t("password.wrong", attempts=attempts_left))
        else:
            self.say(self.t("hint.wrongPassword"))

    def action_submit(self) -> None:
        self.after_typing(self.submit)

    def action_submit_signature(self) -> None:
        self.after_typing(self.submit)

    def submit(self) -> None:
        if self.busy or not self.still_open:
            return
        password = self.query_one("#password", Input).value
        if not password:
            self.say(self.t("password.empty"))
            return
        order = self.order
        if order.kind == "sign":
            self.navigate(ShowSigning(order, password))
            return
        self.busy = True
        self.say(self.t("password.checking"), error=False)
        self.call_signer(lambda: self.kiosk.client.password(order.order_ref, password), self.answered, self.failed)

    def answered(self, response: CollectResponse) -> None:
        self.busy = False
        order = self.order
        if response.status == "complete" and response.completion_data is not None:
            self.navigate(ShowLoggedIn(order, response.completion_data))
        elif response.status == "pending" and response.hint_code == "wrongPassword":
            self.wrong(response.attempts_left)
        else:
            self.show_order((order, response))

    def failed(self, error: SignerError) -> bool:
        self.busy = False
        self.say("")
        return False

    def action_cancel(self) -> None:
        self.cancel_order()

    def action_forgotten(self) -> None:
        """A new password with the control questions; this order is cancelled first."""
        if self.busy or not self.still_open:
            return
        self.busy = True
        self.say(self.t("common.working"), error=False)
        self.start_reset(self.order.personal_number)

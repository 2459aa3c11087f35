"""The one-time code from the customer's code device (kodebrikke), where the app's approval would be; for
a login started with the remembered method, "Other login" (F4)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static

from tillit.kiosk.client import SignerError
from tillit.kiosk.screens.base import OrderScreen
from tillit.signer.wire import CollectResponse

CODE_LENGTH = 6


class CodeScreen(OrderScreen):
    CSS_PATH = "code.tcss"
    AUTO_FOCUS = "#code"
    TYPE_INTO = "#code"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Confirm", priority=True, id="code.submit"),
        Binding("escape", "cancel", "Cancel", id="code.cancel"),
        Binding("f4", "other_method", "Other login", id="code.other-method"),
    ]

    def compose_body(self) -> ComposeResult:
        yield Static(self.t("code.title"), classes="title")
        yield Static(self.t("code.label"), classes="lead")
        # Not selected on focus: a digit typed before the field had focus is already in it (TYPE_INTO).
        yield Input(
            placeholder=self.t("code.placeholder"),
            restrict=r"[0-9]*",
            max_length=CODE_LENGTH,
            id="code",
            select_on_focus=False,
        )
        yield Static("", id="status")

    def action_submit(self) -> None:
        self.after_typing(self.submit)

    def submit(self) -> None:
        field = self.query_one("#code", Input)
        if self.busy or not self.still_open:
            return
        if len(field.value) != CODE_LENGTH:
            self.say(self.t("code.incomplete"))
            return
        self.busy = True
        self.say(self.t("common.working"), error=False)
        order, code = self.order, field.value
        self.call_signer(lambda: self.kiosk.client.code(order.order_ref, code), self.answered, self.failed)

    def answered(self, response: CollectResponse) -> None:
        self.busy = False
        if response.status == "pending" and response.hint_code == "wrongCode":
            field = self.query_one("#code", Input)
            field.value = ""
            field.focus()
            self.say(self.kiosk.hint_text("wrongCode", response.attempts_left))
            return
        self.show_order((self.order, response))

    def failed(self, error: SignerError) -> bool:
        self.busy = False
        if error.code == "codeThrottled":  # too many wrong codes: the order stays, a new code later
            field = self.query_one("#code", Input)
            field.value = ""
            field.focus()
            self.say(self.t("hint.codeThrottled"))
            return True
        self.say("")
        return False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "other_method":
            order = self.kiosk.order
            return order is not None and order.remembered
        return True

    def action_cancel(self) -> None:
        self.cancel_order()

    def action_other_method(self) -> None:
        order = self.kiosk.order
        if self.busy or order is None or not order.remembered:
            return
        self.choose_another()

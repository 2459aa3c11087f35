"""Block my BankID (sperre): the number, a confirmation, then POST /v1/block.

Without a login this needs only the number (a lost phone cannot approve anything); the signer decides
what blocking does. A signer without the endpoint (an older version) answers 404, and the screen then says blocking is
not available here.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static

from tillit.kiosk.client import BlockUnavailable, SignerError
from tillit.kiosk.dialogs.confirm import ConfirmDialog
from tillit.kiosk.navigation import BackToStart, StartOver
from tillit.kiosk.numbers import LENGTH, feedback
from tillit.kiosk.screens.base import KioskScreen


class BlockScreen(KioskScreen):
    CSS_PATH = "block.tcss"
    AUTO_FOCUS = "#number"
    TYPE_INTO = "#number"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "block", "Block BankID", priority=True, id="block.confirm"),
        # Once blocked, Enter only goes back: the footer must not offer to block again.
        Binding("enter", "done", "OK", priority=True, id="block.done"),
        Binding("escape", "back", "Back", id="block.back"),
    ]

    def __init__(self, number: str | None = None) -> None:
        super().__init__()
        self.number = number or ""
        self.finished = False
        self.blocked_number: str | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(self.t("block.title"), classes="title")
        yield Static(self.t("block.lead"), classes="lead")
        yield Static(self.t("block.label"), id="label")
        yield Input(
            self.number,
            placeholder=self.t("number.placeholder"),
            restrict=r"[0-9]*",
            max_length=LENGTH,
            id="number",
        )
        yield Static("", id="status")

    def on_mount(self) -> None:
        self.check_as_typed(self.number)

    def on_input_changed(self, event: Input.Changed) -> None:
        if not self.finished and not self.busy:
            self.check_as_typed(event.value)

    def check_as_typed(self, number: str) -> None:
        """What is wrong with the number as it is typed, as on the login's number screen (nothing said
        about a number not yet whole), so that no old complaint stays under the confirmation."""
        key, params, kind = feedback(number, self.kiosk.settings.allow_test_numbers)
        self.say(self.t(key, **params) if key else "", kind)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # One of the two Enter bindings, "Block BankID" and then "OK", so that the footer names what Enter does.
        if action == "block":
            return not self.finished
        if action == "done":
            return self.finished
        return True

    def say(self, text: str, style: str = "error") -> None:
        status = self.query_one("#status", Static)
        status.update(text)
        for name in ("error", "notice", "muted"):
            status.set_class(name == style, name)

    def action_block(self) -> None:
        self.after_typing(self.block)

    def action_done(self) -> None:
        self.action_back()

    def block(self) -> None:
        if self.finished:
            self.action_back()
            return
        if self.busy:
            return
        number = self.query_one("#number", Input).value
        key, params, kind = feedback(number, self.kiosk.settings.allow_test_numbers, submitting=True)
        if kind != "notice":
            self.say(self.t(key, **params), kind)
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.busy = True
                self.say(self.t("common.working"), "muted")
                session = self.kiosk.session
                own = session.order_ref if session and session.customer.personal_number == number else None
                self.call_signer(
                    lambda: self.kiosk.client.block(number, own), lambda _: self.blocked(number), self.failed
                )

        self.app.push_screen(ConfirmDialog(self.t("block.title"), self.t("block.confirm", number=number)), confirmed)

    def blocked(self, number: str) -> None:
        self.busy = False
        self.finished = True
        self.blocked_number = number
        self.say(self.t("block.done", number=number), "notice")
        self.refresh_bindings()

    def failed(self, error: SignerError) -> bool:
        self.busy = False
        if isinstance(error, BlockUnavailable):
            self.say(self.t("block.unavailable"))
            return True
        self.say("")
        return False

    def action_back(self) -> None:
        session = self.kiosk.session
        if session is not None and session.customer.personal_number == self.blocked_number:
            self.navigate(StartOver())  # a blocked BankID's session is over
        else:
            self.navigate(BackToStart())

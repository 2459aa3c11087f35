"""An order that did not go through, in words the customer understands (one text per hint code)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from tillit.kiosk.client import SignerError
from tillit.kiosk.screens.base import KioskScreen
from tillit.kiosk.screens.flow import back_to_start, start_reset
from tillit.kiosk.state import OrderKind


class FailedScreen(KioskScreen):
    CSS_PATH = "failed.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "again", "Start again", id="failed.again"),
        Binding("escape", "again", "Back", show=False, id="failed.back"),
        Binding("f3", "block", "Block BankID", id="failed.block"),
        Binding("f5", "forgotten", "Forgotten password", id="failed.forgotten-password"),
    ]

    def __init__(self, hint: str | None, kind: OrderKind = "auth", number: str | None = None) -> None:
        super().__init__()
        self.hint = hint
        self.kind = kind
        self.number = number
        self.busy = False

    def compose_body(self) -> ComposeResult:
        yield Static(self.t("failed.title"), id="failed-title", classes="title")
        yield Static(self.kiosk.hint_text(self.hint), id="reason", classes="lead")
        yield Static(self.t("failed.next"), classes="lead muted")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "forgotten":
            return self.hint == "passwordLocked" and bool(self.number)  # a new password unlocks it
        return True

    def action_again(self) -> None:
        back_to_start(self)

    def action_forgotten(self) -> None:
        if self.busy or not self.number or self.hint != "passwordLocked":
            return
        self.busy = True
        start_reset(self, self.number, self.failed)

    def failed(self, error: SignerError) -> bool:
        self.busy = False
        return False

    def action_block(self) -> None:
        from tillit.kiosk.screens.block import BlockScreen

        session = self.kiosk.session
        self.kiosk.go(BlockScreen(session.customer.personal_number if session else None))

"""An order that did not go through, in words the customer understands (one text per hint code)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from kiosk.screens.base import KioskScreen
from kiosk.screens.flow import back_to_start
from kiosk.state import OrderKind


class FailedScreen(KioskScreen):
    CSS_PATH = "failed.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "again", "Start again", id="failed.again"),
        Binding("escape", "again", "Back", show=False, id="failed.back"),
        Binding("f3", "block", "Block BankID", id="failed.block"),
    ]

    def __init__(self, hint: str | None, kind: OrderKind = "auth") -> None:
        super().__init__()
        self.hint = hint
        self.kind = kind

    def compose_body(self) -> ComposeResult:
        yield Static(self.t("failed.title"), id="failed-title", classes="title")
        yield Static(self.kiosk.hint_text(self.hint), id="reason", classes="lead")
        yield Static(self.t("failed.next"), classes="lead muted")

    def action_again(self) -> None:
        back_to_start(self)

    def action_block(self) -> None:
        from kiosk.screens.block import BlockScreen

        session = self.kiosk.session
        self.kiosk.go(BlockScreen(session.customer.personal_number if session else None))

"""Forgotten password, done: the new password is saved (and a locked password unlocked). Enter: log in
with it (the number already typed), or back to the agreements when the customer is logged in."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from tillit.kiosk.navigation import BackToStart, ShowAgreements, ShowNumber
from tillit.kiosk.screens.base import KioskScreen


class ResetDoneScreen(KioskScreen):
    CSS_PATH = "reset_done.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "log_in", "Log in", id="reset-done.log-in"),
        Binding("escape", "back", "Back", id="reset-done.back"),
    ]

    def __init__(self, number: str) -> None:
        super().__init__()
        self.number = number

    def compose_body(self) -> ComposeResult:
        yield Static(f"✓ {self.t('reset.done_title')}", id="done-title", classes="title")
        yield Static(self.t("reset.done_lead"), id="done-text", classes="lead")
        next_step = "receipt.next" if self.kiosk.session is not None else "reset.done_next"
        yield Static(self.t(next_step), classes="lead muted")

    def action_log_in(self) -> None:
        if self.kiosk.session is not None:
            self.navigate(ShowAgreements())
        else:
            self.navigate(ShowNumber(self.number))

    def action_back(self) -> None:
        self.navigate(BackToStart())

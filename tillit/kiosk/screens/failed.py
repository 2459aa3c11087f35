"""An order that did not go through, in words the customer understands (one text per hint code, or per
kind of order and hint code where the way on differs), and always a way on: the keys that help here
(F4 another login method, F5 a new password, Enter start again) and, where only the bank can help, what
to ask the branch staff for, with the administrator's command that does it."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from tillit.kiosk.navigation import BackToStart, ShowBlock, ShowMethods
from tillit.kiosk.screens.base import KioskScreen
from tillit.kiosk.state import OrderKind

OTHER_METHOD = ("noDevice", "noCodeDevice", "codeDeviceSuspended")
"""Failures of one login method that another may get past."""

STAFF_COMMANDS: dict[str, str] = {
    "passwordLocked": "tillit-signer customers unlock {number}",
    "answersLocked": "tillit-signer customers unlock {number}",
    "reset.noDevice": "tillit-signer customers unlock {number}",
    "wrongAnswers": "tillit-signer customers reset-password {number}",
    "noControlQuestions": "tillit-signer customers reset-password {number}",
    "blocked": "tillit-signer customers unblock {number}",
    "noDevice": "tillit-signer customers assign-codedevice {number} SERIAL",
    "noCodeDevice": "tillit-signer customers assign-codedevice {number} SERIAL",
    "codeDeviceSuspended": "tillit-signer customers assign-codedevice {number} SERIAL",
}
"""What the branch staff run when the customer cannot go on alone (by `kind.hint`, else by hint)."""


class FailedScreen(KioskScreen):
    CSS_PATH = "failed.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "again", "Start again", id="failed.again"),
        Binding("escape", "again", "Back", show=False, id="failed.back"),
        Binding("f3", "block", "Block BankID", id="failed.block"),
        Binding("f4", "method", "Other method", id="failed.other-method"),
        Binding("f5", "forgotten", "Forgotten password", id="failed.forgotten-password"),
    ]

    def __init__(self, hint: str | None, kind: OrderKind = "auth", number: str | None = None) -> None:
        super().__init__()
        self.hint = hint
        self.kind = kind
        self.number = number

    def compose_body(self) -> ComposeResult:
        yield Static(self.t("failed.title"), id="failed-title", classes="title")
        yield Static(self.reason(), id="reason", classes="lead")
        yield Static(self.t(self.next_step()), id="next", classes="lead muted")
        command = STAFF_COMMANDS.get(f"{self.kind}.{self.hint}") or STAFF_COMMANDS.get(self.hint or "")
        if command:
            command = command.format(number=self.number or "<number>")
            yield Static(self.t("failed.staff", command=command), id="staff", classes="muted", markup=False)

    def reason(self) -> str:
        key = f"hint.{self.kind}.{self.hint}"
        text = self.t(key)
        return text if text != key else self.kiosk.hint_text(self.hint)

    def next_step(self) -> str:
        if self.check_action("method", ()):
            return "failed.next_method"
        if self.check_action("forgotten", ()):
            return "failed.next_forgotten"
        return "failed.next"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "forgotten":
            return self.hint == "passwordLocked" and bool(self.number)  # a new password unlocks it
        if action == "method":
            return self.kind == "auth" and self.hint in OTHER_METHOD and bool(self.number)
        return True

    def action_method(self) -> None:
        if self.number and self.check_action("method", ()):
            self.navigate(ShowMethods(self.number))

    def action_again(self) -> None:
        self.navigate(BackToStart())

    def action_forgotten(self) -> None:
        if self.busy or not self.number or self.hint != "passwordLocked":
            return
        self.busy = True
        self.start_reset(self.number)

    def action_block(self) -> None:
        session = self.kiosk.session
        self.navigate(ShowBlock(session.customer.personal_number if session else None))

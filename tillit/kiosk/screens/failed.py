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
    "noControlQuestions": "tillit-signer customers reset-password {number}",
    "blocked": "tillit-signer customers unblock {number}",
    "codeDeviceSuspended": "tillit-signer customers assign-codedevice {number} --serial SERIAL",
}
"""What the branch staff run when the customer cannot go on alone (by `kind.hint`, else by hint)."""

SET_UP = ("noDevice", "noCodeDevice")
"""Failures where the person may have no BankID at all: the signer answers an unknown number like a
customer without that method (the kiosk must not reveal who is a customer), so the staff are shown how
to find out what is missing and how to set each part up."""

SET_UP_COMMANDS: dict[str, str] = {
    "show": "tillit-signer customers show {number}",
    "add": "tillit-signer customers add --personal-number {number} …",
    "assign": "tillit-signer customers assign-codedevice {number} --serial SERIAL",
    "activate": "tillit-phone activate",
}


class FailedScreen(KioskScreen):
    CSS_PATH = "failed.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "again", "Start again", id="failed.again"),
        Binding("escape", "again", "Back", show=False, id="failed.back"),
        Binding("f3", "block", "Block BankID", id="failed.block"),
        Binding("f4", "method", "Other login", id="failed.other-method"),
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
        staff = self.staff_text()
        if staff:
            yield Static(staff, id="staff", classes="muted", markup=False)

    def staff_text(self) -> str | None:
        """What to ask the branch staff for, with their commands; None where the customer goes on alone."""
        number = self.number or "<number>"
        if self.kind == "auth" and self.hint in SET_UP:
            commands = {name: command.format(number=number) for name, command in SET_UP_COMMANDS.items()}
            return self.t("failed.staff_setup", **commands)
        command = STAFF_COMMANDS.get(f"{self.kind}.{self.hint}") or STAFF_COMMANDS.get(self.hint or "")
        return self.t("failed.staff", command=command.format(number=number)) if command else None

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
        if action == "block":
            return self.hint != "blocked"  # it is blocked already: offering to block it again only confuses
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
        if not self.check_action("block", ()):
            return
        session = self.kiosk.session
        self.navigate(ShowBlock(session.customer.personal_number if session else None))

"""The administrator's way out (F12): the admin PIN closes the kiosk; nothing else does."""

from __future__ import annotations

import hmac
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tillit.kiosk.chrome import KioskFooter, TooSmall, after_typing
from tillit.kiosk.context import kiosk_of


class AdminDialog(ModalScreen[bool]):
    CSS_PATH = "admin.tcss"
    AUTO_FOCUS = "#pin"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "check", "Confirm", priority=True, id="admin.check"),
        Binding("escape", "close", "Back", id="admin.back"),
    ]

    def __init__(self, pin: str | None) -> None:
        super().__init__()
        self._pin = pin
        self.failures = 0

    def compose(self) -> ComposeResult:
        t = kiosk_of(self).t
        yield TooSmall()
        with Vertical(id="box"):
            yield Static(t("admin.title"), id="dialog-title")
            if self._pin:
                yield Static(t("admin.label"))
                yield Input(password=True, max_length=64, id="pin")
                yield Static("", id="status", classes="error")
            else:
                yield Static(t("admin.none"), id="status")
        yield KioskFooter()

    def action_check(self) -> None:
        after_typing(self, self.check)

    def check(self) -> None:
        if not self._pin:
            self.dismiss(False)
            return
        field = self.query_one("#pin", Input)
        if hmac.compare_digest(field.value.encode(), self._pin.encode()):
            self.dismiss(True)
            return
        self.failures += 1
        field.value = ""
        self.query_one("#status", Static).update(kiosk_of(self).t("admin.wrong"))
        if self.failures >= 3:
            self.app.notify(kiosk_of(self).t("admin.too_many"), severity="warning", timeout=6)
            self.dismiss(False)

    def action_close(self) -> None:
        self.dismiss(False)

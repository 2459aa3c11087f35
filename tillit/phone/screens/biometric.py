"""The simulated fingerprint reader: "biometric" when scanned, "pin" to type the PIN instead, None to cancel."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label

from tillit.phone.i18n import translate


class BiometricDialog(ModalScreen[str | None]):
    CSS_PATH = "biometric.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", translate("key.cancel"), id="phone.biometric.cancel"),
        Binding("f", "scan", translate("biometric.scan"), id="phone.biometric.scan"),
        Binding("p", "pin", translate("biometric.use_pin"), id="phone.biometric.pin"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(translate("biometric.prompt"), id="prompt")
            yield Button(translate("biometric.scan"), variant="primary", id="scan")
            yield Button(translate("biometric.use_pin"), id="pin")
        yield Footer()  # its own keys: the screen's below do not apply while it is open

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss("biometric" if event.button.id == "scan" else "pin")

    def action_scan(self) -> None:
        self.dismiss("biometric")

    def action_pin(self) -> None:
        self.dismiss("pin")

    def action_cancel(self) -> None:
        self.dismiss(None)

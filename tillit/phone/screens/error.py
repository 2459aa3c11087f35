"""A failure the user should know about (a worker's error, the signer unreachable), with an OK button."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label

from tillit.phone.i18n import translate


class ErrorDialog(ModalScreen[None]):
    CSS_PATH = "error.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", translate("key.close"), id="phone.error.close"),
        Binding("enter", "close", translate("key.ok"), id="phone.error.ok", show=False),
    ]

    def __init__(self, message: str, title: str | None = None) -> None:
        super().__init__()
        self.message = message
        self.title_text = title or translate("error.title")

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="title")
            yield Label(self.message, id="message")
            yield Button(translate("key.ok"), variant="primary", id="ok")
        yield Footer()  # its own keys: the screen's below do not apply while it is open

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)

"""A message the customer acknowledges with Enter (errors from the signer, notices)."""

from __future__ import annotations

from typing import ClassVar, Literal

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from tillit.kiosk.chrome import KioskFooter, TooSmall
from tillit.kiosk.context import kiosk_of


class MessageDialog(ModalScreen[None]):
    CSS_PATH = "message.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "close", "OK", priority=True, id="message.ok"),
        Binding("escape", "close", "Back", show=False, id="message.back"),
    ]

    def __init__(self, title: str, text: str, variant: Literal["error", "info"] = "info") -> None:
        super().__init__(classes=variant)
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        yield TooSmall()
        with Vertical(id="box"):
            yield Static(self.title_text, id="dialog-title")
            yield Static(self.text, id="dialog-text", markup=False)
            yield Static(kiosk_of(self).t("key.OK") + " (Enter)", id="dialog-keys")
        yield KioskFooter()

    def action_close(self) -> None:
        self.dismiss(None)

"""Yes or no, for what cannot be undone at the kiosk (blocking the BankID). Enter says yes, Escape no."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from tillit.kiosk.chrome import KioskFooter, TooSmall
from tillit.kiosk.context import kiosk_of


class ConfirmDialog(ModalScreen[bool]):
    CSS_PATH = "confirm.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "answer(True)", "Yes", priority=True, id="confirm.yes"),
        Binding("escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, title: str, question: str) -> None:
        super().__init__()
        self.title_text = title
        self.question = question

    def compose(self) -> ComposeResult:
        t = kiosk_of(self).t
        yield TooSmall()
        with Vertical(id="box"):
            yield Static(self.title_text, id="dialog-title")
            yield Static(self.question, id="dialog-text", markup=False)
            yield Static(f"Enter: {t('key.Yes')} · Escape: {t('key.No')}", id="dialog-keys")
        yield KioskFooter()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

"""The app PIN dialog that "Ja, det er meg" opens: returns the PIN typed, or None when cancelled."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label


class PinDialog(ModalScreen[str | None]):
    CSS_PATH = "pin.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Avbryt", id="phone.pin.cancel")]

    def __init__(self, prompt: str = "Skriv inn PIN-koden din") -> None:
        super().__init__()
        self.prompt = prompt

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.prompt, id="prompt")
            yield Input(password=True, restrict=r"[0-9]*", max_length=12, placeholder="PIN-kode", id="pin")
            with Horizontal(id="buttons"):
                yield Button("OK", variant="primary", id="ok")
                yield Button("Avbryt", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#pin", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        pin = self.query_one("#pin", Input).value
        if pin:
            self.dismiss(pin)

    def action_cancel(self) -> None:
        self.dismiss(None)

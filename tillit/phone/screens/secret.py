"""`SecretDialog`: the modal that asks one secret (the app PIN, the BankID password): a prompt, the
attempts left after a wrong one, the field, OK and Cancel. It returns what was typed, or None when
cancelled; an empty field submits nothing. `PinDialog` and `PasswordDialog` give it their field."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label

from tillit.phone.i18n import translate


class SecretDialog(ModalScreen[str | None]):
    CSS_PATH = "secret.tcss"

    def __init__(self, prompt: str, attempts: str | None, field: Input) -> None:
        super().__init__()
        self.prompt = prompt
        self.attempts = attempts
        self.field = field
        field.add_class("secret")

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.prompt, id="prompt")
            if self.attempts is not None:
                yield Label(self.attempts, id="attempts")
            yield self.field
            with Horizontal(id="buttons"):
                yield Button(translate("key.ok"), variant="primary", id="ok")
                yield Button(translate("key.cancel"), id="cancel")
        yield Footer()  # its own keys: the screen's below do not apply while it is open

    def on_mount(self) -> None:
        self.field.focus()

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
        if self.field.value:
            self.dismiss(self.field.value)

    def action_cancel(self) -> None:
        self.dismiss(None)

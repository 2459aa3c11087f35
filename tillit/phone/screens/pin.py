"""The app PIN dialog that "Ja, det er meg" opens: returns the PIN typed, or None when cancelled.

The signer checks the PIN and counts wrong ones (phone/keystore.py): after a wrong one the dialog
says how many attempts are left before the phone is locked (`attempts_left`), and `pin_refusal`
words the keystore's refusal for the screens.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from tillit.phone.keystore import DeviceDeactivated, DeviceLocked, KeystoreError, SignerUnreachable, WrongPin


def attempts_text(attempts_left: int) -> str:
    if attempts_left == 1:
        return "Siste forsøk før appen blir låst."
    return f"{attempts_left} forsøk igjen før appen blir låst."


def pin_refusal(error: KeystoreError | None) -> str:
    """Why the PIN opened nothing, for the screen (None: a PIN check that only said no)."""
    if error is None:
        return "Feil PIN-kode. Prøv igjen."
    if isinstance(error, WrongPin):
        return f"Feil PIN-kode. {attempts_text(error.attempts_left)}"
    if isinstance(error, DeviceLocked):
        return "Appen er låst etter fem feil PIN-kodar på rad. Aktiver BankID på nytt."
    if isinstance(error, DeviceDeactivated):
        return "Denne eininga er deaktivert. Aktiver BankID på nytt, eller kontakt banken."
    if isinstance(error, SignerUnreachable):
        return "Fekk ikkje kontakt med banken, som sjekkar PIN-koden. Prøv igjen."
    return str(error)


class PinDialog(ModalScreen[str | None]):
    CSS_PATH = "pin.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Avbryt", id="phone.pin.cancel")]

    def __init__(self, prompt: str = "Skriv inn PIN-koden din", attempts_left: int | None = None) -> None:
        super().__init__()
        self.prompt = prompt
        self.attempts_left = attempts_left

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.prompt, id="prompt")
            if self.attempts_left is not None:
                yield Label(attempts_text(self.attempts_left), id="attempts")
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

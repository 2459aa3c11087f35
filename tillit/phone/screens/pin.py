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

from tillit.phone.i18n import translate
from tillit.phone.keystore import DeviceDeactivated, DeviceLocked, KeystoreError, SignerUnreachable, WrongPin


def attempts_text(attempts_left: int) -> str:
    return translate("pin.attempts_left", attempts=attempts_left)


def pin_refusal(error: KeystoreError | None) -> str:
    """Why the PIN opened nothing, for the screen (None: a PIN check that only said no)."""
    if error is None:
        return translate("pin.wrong")
    if isinstance(error, WrongPin):
        return translate("pin.wrong_attempts_left", attempts=error.attempts_left)
    if isinstance(error, DeviceLocked):
        return translate("pin.locked")
    if isinstance(error, DeviceDeactivated):
        return translate("pin.deactivated")
    if isinstance(error, SignerUnreachable):
        return translate("pin.unreachable")
    return str(error)


class PinDialog(ModalScreen[str | None]):
    CSS_PATH = "pin.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", translate("key.cancel"), id="phone.pin.cancel")
    ]

    def __init__(self, prompt: str | None = None, attempts_left: int | None = None) -> None:
        super().__init__()
        self.prompt = prompt or translate("pin.prompt")
        self.attempts_left = attempts_left

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.prompt, id="prompt")
            if self.attempts_left is not None:
                yield Label(attempts_text(self.attempts_left), id="attempts")
            yield Input(
                password=True, restrict=r"[0-9]*", max_length=12, placeholder=translate("pin.placeholder"), id="pin"
            )
            with Horizontal(id="buttons"):
                yield Button(translate("key.ok"), variant="primary", id="ok")
                yield Button(translate("key.cancel"), id="cancel")

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

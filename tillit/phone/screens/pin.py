"""The app PIN dialog that "Ja, det er meg" opens: returns the PIN typed, or None when cancelled.

The signer checks the PIN and counts wrong ones (phone/keystore.py): after a wrong one the dialog
says how many attempts are left before the phone is locked (`attempts_left`), and `pin_refusal`
words the keystore's refusal for the screens.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input

from tillit.phone.i18n import translate
from tillit.phone.keystore import DeviceDeactivated, DeviceLocked, KeystoreError, SignerUnreachable, WrongPin
from tillit.phone.screens.secret import SecretDialog


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


class PinDialog(SecretDialog):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", translate("key.cancel"), id="phone.pin.cancel")
    ]

    def __init__(self, prompt: str | None = None, attempts_left: int | None = None) -> None:
        field = Input(
            password=True, restrict=r"[0-9]*", max_length=12, placeholder=translate("pin.placeholder"), id="pin"
        )
        attempts = attempts_text(attempts_left) if attempts_left is not None else None
        super().__init__(prompt or translate("pin.prompt"), attempts, field)

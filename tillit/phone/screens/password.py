"""The BankID password, asked by the phone after "Ja, det er meg" for the orders whose `passwordBy` is
"phone" (a relying party's): `PasswordDialog` returns the password typed, or None when cancelled;
`ask_password` sends it (`POST /v1/app/requests/{orderRef}/password`) and asks again after a wrong
one, with the attempts left, until the signer takes it, locks it, or the order ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from tillit.phone.client import AsyncRemote
from tillit.phone.i18n import translate
from tillit.signer.wire import AppRequest

ACCEPTED, LOCKED, NOT_SENT, ENDED = "accepted", "locked", "notSent", "ended"
"""How `ask_password` ended: the signer took the password; it locked it; none was sent; the order ended."""


def outcome_text(outcome: str, requester: str) -> str:
    """What the phone says once `ask_password` returned `outcome` for a request from `requester`."""
    if outcome == ACCEPTED:
        return translate("password.accepted", requester=requester)
    if outcome == LOCKED:
        return translate("password.locked")
    if outcome == NOT_SENT:
        return translate("password.not_sent")
    return translate("request.ended")


class PasswordDialog(ModalScreen[str | None]):
    CSS_PATH = "password.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", translate("key.cancel"), id="phone.password.cancel")
    ]

    def __init__(self, attempts_left: int | None = None) -> None:
        super().__init__()
        self.attempts_left = attempts_left

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(translate("password.prompt"), id="prompt")
            if self.attempts_left is not None:
                wrong = translate("password.wrong_attempts_left", attempts=self.attempts_left)
                yield Label(wrong, id="attempts")
            yield Input(password=True, max_length=256, placeholder=translate("password.placeholder"), id="password")
            with Horizontal(id="buttons"):
                yield Button(translate("key.ok"), variant="primary", id="ok")
                yield Button(translate("key.cancel"), id="cancel")

    def on_mount(self) -> None:
        self.query_one("#password", Input).focus()

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
        password = self.query_one("#password", Input).value
        if password:
            self.dismiss(password)

    def action_cancel(self) -> None:
        self.dismiss(None)


async def ask_password(
    ask: Callable[[PasswordDialog], Awaitable[str | None]], remote: AsyncRemote, request: AppRequest
) -> str:
    """Ask the password with `ask` (opens the dialog, None when it was cancelled or closed) and send it
    until the signer decides; ACCEPTED, LOCKED, NOT_SENT (the order waits for it) or ENDED.
    A refusal of the request itself (PhoneError: expired, deactivated) passes through."""
    attempts_left: int | None = None
    while True:
        typed = await ask(PasswordDialog(attempts_left))
        if typed is None:
            return NOT_SENT
        answer = await remote.password(request.order_ref, typed)
        if answer.status == "failed":
            return LOCKED if answer.hint_code == "passwordLocked" else ENDED
        if answer.hint_code != "wrongPassword":  # complete, or a signing order still signing
            return ACCEPTED
        attempts_left = answer.attempts_left

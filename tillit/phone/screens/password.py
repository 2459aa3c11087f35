"""The BankID password, asked by the phone after "Ja, det er meg" for the orders whose `passwordBy` is
"phone" (a relying party's): `PasswordDialog` returns the password typed, or None when cancelled;
`ask_password` sends it (`POST /v1/app/requests/{orderRef}/password`) and asks again after a wrong
one, with the attempts left, until the signer takes it, locks it, or the order ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input

from tillit.phone.client import AsyncRemote
from tillit.phone.i18n import translate
from tillit.phone.screens.secret import SecretDialog
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


class PasswordDialog(SecretDialog):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", translate("key.cancel"), id="phone.password.cancel")
    ]

    def __init__(self, attempts_left: int | None = None) -> None:
        field = Input(password=True, max_length=256, placeholder=translate("password.placeholder"), id="password")
        attempts = (
            translate("password.wrong_attempts_left", attempts=attempts_left) if attempts_left is not None else None
        )
        super().__init__(translate("password.prompt"), attempts, field)


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

"""An order's states, kinds, methods and hint codes, and the one table of the moves between states.

An order moves pending -> approved (the device approved the challenge, or a code device's code
stood for it) -> verifying (one password check at a time) -> complete, or for sign orders ->
signing -> complete. Logins without a password (biometric, app PIN), guardian approvals,
activations and password resets complete from approved. complete and failed are final. A password
check or a signing that cannot finish (wrong password, the HSM away, a crash) hands the order back to
approved. The store refuses every move `TRANSITIONS` does not list (`Tx.transition`).

Each is a `StrEnum`: the store keeps the strings, and a member equals its string.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    VERIFYING = "verifying"
    SIGNING = "signing"
    COMPLETE = "complete"
    FAILED = "failed"


class OrderKind(StrEnum):
    AUTH = "auth"
    SIGN = "sign"
    RESET = "reset"
    ACTIVATION = "activation"
    GUARDIAN = "guardian"


class OrderMethod(StrEnum):
    """How the customer approves: on the phone, with a login without password, or a code device."""

    APP = "app"
    BIOMETRIC = "biometric"
    CODE_DEVICE = "codedevice"


class HintCode(StrEnum):
    """Where an order stands or why it ended, as the kiosk's collect answer names it."""

    OUTSTANDING_TRANSACTION = "outstandingTransaction"
    USER_SIGN = "userSign"
    COMPLETE = "complete"
    EXPIRED_TRANSACTION = "expiredTransaction"
    USER_CANCEL = "userCancel"
    CANCELLED = "cancelled"
    ALREADY_IN_PROGRESS = "alreadyInProgress"
    PASSWORD_LOCKED = "passwordLocked"  # noqa: S105 (a hint code, not a password)
    ANSWERS_LOCKED = "answersLocked"
    BLOCKED = "blocked"
    NO_DEVICE = "noDevice"
    NO_CODE_DEVICE = "noCodeDevice"
    CODE_DEVICE_SUSPENDED = "codeDeviceSuspended"
    WRONG_PASSWORD = "wrongPassword"  # noqa: S105 (a hint code, not a password)
    WRONG_CODE = "wrongCode"
    SIGNING_FAILED = "signingFailed"


Status = OrderStatus
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    Status.PENDING: frozenset({Status.APPROVED, Status.FAILED}),
    Status.APPROVED: frozenset({Status.VERIFYING, Status.COMPLETE, Status.FAILED}),
    Status.VERIFYING: frozenset({Status.APPROVED, Status.SIGNING, Status.COMPLETE, Status.FAILED}),
    Status.SIGNING: frozenset({Status.APPROVED, Status.COMPLETE, Status.FAILED}),
    Status.COMPLETE: frozenset(),
    Status.FAILED: frozenset(),
}
"""The moves an order may make: from each state, the states it may go to."""

OPEN_STATES = (Status.PENDING, Status.APPROVED, Status.VERIFYING, Status.SIGNING)
EXPIRING_STATES = (Status.PENDING, Status.APPROVED, Status.VERIFYING)
"""Open states an order leaves when its lifetime ends, or when it is cancelled; a signing runs to its end."""
KIOSK_KINDS = (OrderKind.AUTH, OrderKind.SIGN, OrderKind.RESET)
ALL_KINDS = (*KIOSK_KINDS, OrderKind.ACTIVATION, OrderKind.GUARDIAN)
ATTEMPTS_BEFORE_LOCK = 5
"""Wrong guesses in a row that end something: activation codes, code-device codes before throttling."""


class IllegalTransition(ValueError):
    """A move `TRANSITIONS` does not allow from any of the states given: a mistake in the code."""


def allowed_sources(from_states: Iterable[str], to_state: str) -> list[OrderStatus]:
    """The states of `from_states` from which `TRANSITIONS` allows a move to `to_state`; raises
    `IllegalTransition` when there is none."""
    target = OrderStatus(to_state)
    sources = [OrderStatus(state) for state in from_states if target in TRANSITIONS[OrderStatus(state)]]
    if not sources:
        raise IllegalTransition(f"no order moves from {', '.join(map(str, from_states))} to {to_state}")
    return sources

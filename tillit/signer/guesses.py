"""Guesses at a customer's secrets: the one place that admits, counts and decides each of them.

Every check of a secret a stranger could guess goes through `Guesses`: the BankID password (at the
kiosk, in app activation, after a code-device approval), the control answers of a password reset,
and the one-time codes of a code device. The rules (security invariant 8):

- **Admitted before it is computed.** `admit` runs in a transaction of its own that locks the
  customer's row: a locked secret is refused, and so is a guess when the failures so far plus the
  guesses still being computed would reach the limit. The admission is a row in `guesses_in_flight`,
  so every instance sharing the database sees it. At most `limit` wrong guesses are therefore ever
  computed before the lock, however many arrive at once, on however many instances.
- **Decided in the caller's transaction.** `decide` removes the admission and counts the outcome in
  the same transaction that acts on it (an order completed, a device bound), so a guess is counted
  whether or not its order was cancelled or expired meanwhile, and a right guess on a secret that
  is locked by then (by the guesses beside it, or by an administrator) does not succeed. A success
  resets the failures, never a lock.
- **A crash never gives a guess back.** An admission older than `STALE_SECONDS` was computed by a
  process that died; the next `admit` counts it as a wrong guess.

Code devices are throttled rather than locked, so that a stranger who knows a customer's number
cannot take the device away: after `CODE_FREE_FAILURES` wrong codes in a row, each further guess
waits a back-off that doubles up to `CODE_MAX_BACKOFF_SECONDS`. The throttle is kept per national
identity number whether or not the number has a customer or a code device, so it tells nobody
apart; a code is checked only while the number is not throttled.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tillit.signer import errors
from tillit.signer.store.records import Customer
from tillit.signer.store.tx import Tx

STALE_SECONDS = 120.0
CODE_FREE_FAILURES = 5
CODE_FIRST_BACKOFF_SECONDS = 60.0
CODE_MAX_BACKOFF_SECONDS = 3600.0


class Secret(StrEnum):
    """A customer secret whose wrong guesses are counted, with the customer columns that count them."""

    PASSWORD = "password"  # noqa: S105 (the secret's name, not a password)
    CONTROL_ANSWERS = "answers"

    @property
    def failures_column(self) -> str:
        return "failed_passwords" if self is Secret.PASSWORD else "failed_answers"

    @property
    def locked_column(self) -> str:
        return "password_locked" if self is Secret.PASSWORD else "answers_locked"

    @property
    def locked_hint(self) -> str:
        return "passwordLocked" if self is Secret.PASSWORD else "answersLocked"


@dataclass(frozen=True)
class Admission:
    """One admitted guess: decide it with `Guesses.decide`."""

    id: str
    customer_id: str
    secret: Secret
    context: str


@dataclass(frozen=True)
class Verdict:
    """What a decided guess came to. `succeeded` only when the guess was right and the secret is
    not locked; `failures` is the count in a row after it, `locked` whether the secret is locked."""

    succeeded: bool
    failures: int
    locked: bool
    attempts_left: int


class Locked(errors.Forbidden):
    def __init__(self, secret: Secret) -> None:
        what = "password" if secret is Secret.PASSWORD else "control answers"
        super().__init__(f"the {what} is locked after too many wrong attempts", secret.locked_hint)
        self.secret = secret


class Busy(errors.Conflict):
    def __init__(self) -> None:
        super().__init__("other attempts for this customer are being checked; try again in a moment", "attemptBusy")


class Guesses:
    """Admit, count and decide guesses at customer secrets (see the module docstring)."""

    def __init__(
        self,
        limits: dict[Secret, int],
        clock: Callable[[], float],
        on_failure: Callable[[Secret], None] | None = None,
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.on_failure = on_failure

    # -- customer secrets ------------------------------------------------------------------------

    def admit(self, tx: Tx, customer_id: str, secret: Secret, context: str) -> Admission:
        """Admit one guess at `secret`, or raise `Locked` / `Busy`. Commit `tx` before computing."""
        at = self.clock()
        customer = tx.lock_customer(customer_id)
        if customer is None:
            raise errors.NotFound("no such customer")
        failures, locked = self._counts(customer, secret)
        in_flight = 0
        for guess_id, guess_context, admitted_at in tx.guesses_in_flight(customer_id, secret.value):
            if admitted_at >= at - STALE_SECONDS:
                in_flight += 1
            elif tx.delete_guess(guess_id):  # computed by a process that died: a wrong guess
                failures = self._add_failure(tx, customer_id, secret, f"{guess_context} (never decided)", at)
                locked = locked or failures >= self.limits[secret]
        if locked:
            raise Locked(secret)
        if failures + in_flight >= self.limits[secret]:
            raise Busy()
        admission = Admission(str(uuid.uuid4()), customer_id, secret, context)
        tx.insert_guess(admission.id, customer_id, secret.value, context, at)
        return admission

    def decide(self, tx: Tx, admission: Admission, correct: bool, **on_success: Any) -> Verdict:
        """Count the admitted guess in `tx` and say what it came to. `on_success`: more customer
        columns to set when it succeeded."""
        at = self.clock()
        secret, customer_id = admission.secret, admission.customer_id
        limit = self.limits[secret]
        customer = tx.lock_customer(customer_id)
        assert customer is not None
        failures, locked = self._counts(customer, secret)
        if not tx.delete_guess(admission.id):
            # Counted as wrong already (stale: this process was too slow): never a success now.
            return Verdict(False, failures, locked, max(0, limit - failures))
        if correct and not locked:
            tx.update_customer(customer_id, **{secret.failures_column: 0}, **on_success)
            tx.audit(f"{secret.value}.correct", customer_id, at, context=admission.context)
            return Verdict(True, 0, False, limit)
        if correct:  # right, but locked meanwhile: not counted as wrong, not a success either
            tx.audit(f"{secret.value}.refused", customer_id, at, context=admission.context, why="locked")
            return Verdict(False, failures, True, 0)
        failures = self._add_failure(tx, customer_id, secret, admission.context, at)
        locked = failures >= limit
        return Verdict(False, failures, locked, max(0, limit - failures))

    def unlock(self, tx: Tx, customer_id: str, *secrets: Secret) -> None:
        """Clear the failures and locks of `secrets` (all when none are named): an administrator's
        unlock, a completed password reset."""
        changes: dict[str, int] = {}
        for secret in secrets or tuple(Secret):
            changes[secret.failures_column] = 0
            changes[secret.locked_column] = 0
        tx.update_customer(customer_id, **changes)

    def _counts(self, customer: Customer, secret: Secret) -> tuple[int, bool]:
        return int(getattr(customer, secret.failures_column)), bool(getattr(customer, secret.locked_column))

    def _add_failure(self, tx: Tx, customer_id: str, secret: Secret, context: str, at: float) -> int:
        failures = tx.add_failure(customer_id, secret.failures_column)
        tx.audit(f"{secret.value}.wrong", customer_id, at, context=context, failures=failures)
        if self.on_failure is not None:
            self.on_failure(secret)
        if failures >= self.limits[secret]:
            tx.update_customer(customer_id, **{secret.locked_column: 1})
            tx.audit(f"customer.{secret.value}_locked", customer_id, at)
        return failures

    # -- code devices ------------------------------------------------------------------------------

    def admit_code(self, tx: Tx, personal_number: str) -> None:
        """Raise `RateLimited` while the number's code guesses are throttled. Call in the
        transaction that then checks the code and calls `decide_code`."""
        at = self.clock()
        _, until = tx.code_throttle(personal_number)
        if until > at:
            wait = int(until - at) + 1
            raise errors.RateLimited(
                f"too many wrong codes from the code device: try again in {wait} s", "codeThrottled", wait
            )

    def decide_code(self, tx: Tx, personal_number: str, correct: bool) -> int:
        """Count a checked code for the number; returns the wrong codes in a row (0 after a right one)."""
        at = self.clock()
        if correct:
            tx.set_code_throttle(personal_number, 0, 0.0)
            return 0
        failures, _ = tx.code_throttle(personal_number)
        failures += 1
        # Stored also while no back-off is due (then it is now): a day after it, the count is forgotten.
        tx.set_code_throttle(personal_number, failures, at + code_backoff(failures))
        return failures


def code_backoff(failures: int) -> float:
    """Seconds before the next code guess after `failures` wrong codes in a row."""
    if failures < CODE_FREE_FAILURES:
        return 0.0
    return float(min(CODE_MAX_BACKOFF_SECONDS, CODE_FIRST_BACKOFF_SECONDS * 2 ** (failures - CODE_FREE_FAILURES)))

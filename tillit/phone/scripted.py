"""`tillit-phone approve`, `decline`, `scan` and `autostart` without a screen.

`act`: the next pending request is found with the same long-poll the phone screen uses
(`GET /v1/app/requests?wait=S`), so a request that arrives while the command waits is acted on the
moment it arrives. `claim`: the order is claimed by its QR code's content or its autostart token
(the signer checks them and addresses the order to this phone's customer), then answered.
`give_password`: after an approval of a request whose `passwordBy` is "phone", the BankID password,
asked again after a wrong one until the signer takes it, locks it, or the order ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from tillit.phone.client import PhoneClient, PhoneError
from tillit.signer.wire import AppRequest

MAX_POLL_SECONDS = 60.0  # the signer's longest long-poll


class Exit(IntEnum):
    """The exit codes of `approve` and `decline` (also listed in their --help)."""

    DONE = 0
    ERROR = 1
    USAGE = 2
    NOTHING_PENDING = 3
    EXPIRED = 4
    DEACTIVATED = 5
    PASSWORD_LOCKED = 6


@dataclass
class Result:
    exit: Exit
    message: str
    request: AppRequest | None = None
    decision: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The request as printed: orderRef, reference, kind, method, kioskName, userVisibleData,
        userVisibleDataFormat, passwordBy, documents, decision, outcome."""
        assert self.request is not None
        r = self.request
        return {
            "orderRef": r.order_ref,
            "reference": r.reference,
            "kind": r.kind,
            "method": r.method,
            "kioskName": r.kiosk_name,
            "userVisibleData": r.user_visible_data,
            "userVisibleDataFormat": r.user_visible_data_format,
            "passwordBy": r.password_by,
            "documents": [{"name": d.get("name", ""), "sha256": d.get("sha256", "")} for d in r.documents],
            "decision": self.decision,
            "outcome": OUTCOMES[self.exit],
        }


OUTCOMES = {
    Exit.DONE: "done",
    Exit.ERROR: "error",
    Exit.USAGE: "usage",
    Exit.NOTHING_PENDING: "nothingPending",
    Exit.EXPIRED: "expired",
    Exit.DEACTIVATED: "deactivated",
    Exit.PASSWORD_LOCKED: "passwordLocked",
}

CLAIM_REFUSALS = {400: Exit.USAGE, 404: Exit.NOTHING_PENDING, 410: Exit.EXPIRED}
"""The exit for a signer's refusal of a QR code or autostart token, by HTTP status: invalidQr (400) is
a code that is not a real one; notFound (404): no such order, or it is over; qrExpired (410): a code
older than the signer allows. Others (alreadyClaimed, wrongCustomer): Exit.ERROR."""


def normalise_reference(text: str) -> str:
    return " ".join(text.split()).upper()


def act(
    client: PhoneClient,
    decision: str,
    wait: float = 0,
    reference: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    biometric: bool = False,
) -> Result:
    """Approve or decline the oldest pending request (with `reference`, if given), waiting up to `wait` s.

    `biometric`: the profile has biometric login on, so an approval of a login without password
    (`method` "biometric") says the fingerprint was used, as the phone screen does.
    """
    wanted = normalise_reference(reference) if reference else None
    deadline = clock() + max(0.0, wait)
    while True:
        remaining = deadline - clock()
        answer = client.requests(wait=min(MAX_POLL_SECONDS, remaining) if remaining > 0.05 else 0)
        if answer.device_status != "active":
            return Result(Exit.DEACTIVATED, "this phone has been deactivated: it can approve nothing")
        matching = [r for r in answer.requests if wanted is None or normalise_reference(r.reference) == wanted]
        if matching:
            return decide_request(client, matching[0], decision, biometric)
        if deadline - clock() <= 0.05:
            what = f"with reference {wanted}" if wanted else "for this phone"
            return Result(Exit.NOTHING_PENDING, f"no request {what} is pending")
        if answer.requests:
            # Requests, but not the one asked for: the long-poll answers at once while any are pending.
            sleep(min(0.2, max(0.0, deadline - clock())))


def claim(
    client: PhoneClient,
    start: Callable[[PhoneClient], AppRequest],
    decision: str,
    biometric: bool = False,
    show: Callable[[AppRequest], None] | None = None,
) -> Result:
    """Claim an order with `start` (`PhoneClient.scan` or `.autostart` with its argument bound), `show`
    the request, then approve or decline it as `act` does."""
    try:
        request = start(client)
    except PhoneError as e:
        if e.status == 403 and e.code == "deviceDeactivated":
            return Result(Exit.DEACTIVATED, e.reason)
        return Result(CLAIM_REFUSALS.get(e.status, Exit.ERROR), f"the signer refused it ({e.code}): {e.reason}")
    if show is not None:
        show(request)
    return decide_request(client, request, decision, biometric)


def decide_request(client: PhoneClient, request: AppRequest, decision: str, biometric: bool) -> Result:
    fingerprint = biometric and decision == "approve" and request.method == "biometric"
    try:
        client.decide(request, decision, biometric=fingerprint)
    except PhoneError as e:
        if e.status == 410:
            return Result(Exit.EXPIRED, f"the request has expired: {e.reason}", request, decision)
        if e.status == 403 and e.code == "deviceDeactivated":
            return Result(Exit.DEACTIVATED, e.reason, request, decision)
        return Result(Exit.ERROR, e.reason, request, decision)
    verb = "approved" if decision == "approve" else "declined"
    complete = decision == "approve" and request.method == "biometric"
    note = " (a login without password: complete now)" if complete else ""
    return Result(Exit.DONE, f"{verb} {request.reference} from {request.kiosk_name}{note}", request, decision)


def give_password(
    client: PhoneClient,
    request: AppRequest,
    ask: Callable[[], str],
    tell: Callable[[str], None],
) -> Result:
    """The BankID password for an approved request whose `passwordBy` is "phone": `ask()` for it (a
    PromptError passes through), send it, `tell` the attempts left after a wrong one (or why the
    signer refused to check it) and ask again.
    Done once the signer takes it; PASSWORD_LOCKED when it locks; EXPIRED or ERROR when the order ends."""
    while True:
        try:
            answer = client.password(request.order_ref, ask())
        except PhoneError as e:
            if e.status == 410:
                return Result(Exit.EXPIRED, f"the request has expired: {e.reason}", request, "approve")
            if e.status == 403 and e.code == "deviceDeactivated":
                return Result(Exit.DEACTIVATED, e.reason, request, "approve")
            if e.status == 400:  # not a password it checks (too long): no attempt counted, ask again
                tell(f"the signer refused the password: {e.reason}")
                continue
            return Result(Exit.ERROR, f"the signer refused the password: {e.reason}", request, "approve")
        if answer.status == "failed":
            if answer.hint_code == "passwordLocked":
                locked = "the BankID password is locked after too many wrong attempts; the order failed"
                return Result(Exit.PASSWORD_LOCKED, locked, request, "approve")
            ended = Exit.EXPIRED if answer.hint_code == "expiredTransaction" else Exit.ERROR
            return Result(ended, f"the order failed ({answer.hint_code})", request, "approve")
        if answer.hint_code != "wrongPassword":  # complete, or a signing order still signing
            done = f"approved {request.reference} from {request.kiosk_name}; the password was accepted"
            return Result(Exit.DONE, done, request, "approve")
        left = answer.attempts_left
        tell(
            f"wrong BankID password: {left} attempt{'' if left == 1 else 's'} left"
            if left is not None
            else "wrong BankID password"
        )

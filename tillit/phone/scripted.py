"""`tillit-phone approve` and `decline` without a screen: act on the next pending request.

The request is found with the same long-poll the phone screen uses (`GET /v1/app/requests?wait=S`),
so a request that arrives while the command waits is acted on the moment it arrives.
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


@dataclass
class Result:
    exit: Exit
    message: str
    request: AppRequest | None = None
    decision: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The request as printed: orderRef, reference, kind, method, kioskName, userVisibleData, documents,
        decision, outcome."""
        assert self.request is not None
        r = self.request
        return {
            "orderRef": r.order_ref,
            "reference": r.reference,
            "kind": r.kind,
            "method": r.method,
            "kioskName": r.kiosk_name,
            "userVisibleData": r.user_visible_data,
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
}


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
            return _decide(client, matching[0], decision, biometric)
        if deadline - clock() <= 0.05:
            what = f"with reference {wanted}" if wanted else "for this phone"
            return Result(Exit.NOTHING_PENDING, f"no request {what} is pending")
        if answer.requests:
            # Requests, but not the one asked for: the long-poll answers at once while any are pending.
            sleep(min(0.2, max(0.0, deadline - clock())))


def _decide(client: PhoneClient, request: AppRequest, decision: str, biometric: bool) -> Result:
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

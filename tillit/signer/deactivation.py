"""Why a phone is no longer the customer's active BankID device: a code for the phone to word in its
language, and the same in English for the command line and the logs.

A device stops being active when BankID is activated on another phone, when the customer is blocked
(every device goes, and unblocking brings none back: the app is activated again), or after five
wrong app PINs (`deviceLocked`, answered elsewhere). The refusal, 403 `deviceDeactivated`, says which
is true now, in its reason and as `deactivatedReason` (one of `wire.DEACTIVATION_REASONS`), so that a
phone does not claim "another device" when there is none. It goes only to the device itself: every
caller has checked the request's signature first.
"""

from __future__ import annotations

from tillit.signer import errors
from tillit.signer.store.records import Device
from tillit.signer.store.tx import Tx

REASONS = {
    "blocked": "BankID is blocked by the bank, so this phone is deactivated; contact the bank to open it again",
    "replaced": "this phone is deactivated: BankID was activated on another device",
    "byTheBank": "BankID on this phone was deactivated by the bank; activate BankID on this phone again",
    "locked": "this phone is locked after five wrong app PINs in a row; activate BankID on it again",
}
"""Each of `wire.DEACTIVATION_REASONS`, in words."""


def deactivation_reason(tx: Tx, device: Device) -> str:
    """Why `device` is not active, one of `wire.DEACTIVATION_REASONS`, read from the customer's state now."""
    customer = tx.customer(device.customer_id)
    active = tx.active_device(device.customer_id)
    if device.status == "locked":
        return "locked"
    if customer is not None and customer.status == "blocked":
        return "blocked"
    if active is not None and active.id != device.id:
        return "replaced"
    return "byTheBank"


def deactivated(tx: Tx, device: Device) -> errors.Forbidden:
    """The 403 `deviceDeactivated` for `device`, with its reason."""
    why = deactivation_reason(tx, device)
    return errors.Forbidden(REASONS[why], "deviceDeactivated", fields={"deactivatedReason": why})

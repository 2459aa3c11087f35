"""Why a phone is no longer the customer's active BankID device, in words the phone shows as they are.

A device stops being active when BankID is activated on another phone, when the customer is blocked
(every device goes, and unblocking brings none back: the app is activated again), or after five
wrong app PINs (`deviceLocked`, answered elsewhere). The refusal, 403 `deviceDeactivated`, says which
of the first two is true now, so that a phone does not claim "another device" when there is none.
"""

from __future__ import annotations

from tillit.signer import errors
from tillit.signer.store.records import Device
from tillit.signer.store.tx import Tx

BLOCKED = "BankID is blocked by the bank, so this phone is deactivated; contact the bank to open it again"
REPLACED = "this phone is deactivated: BankID was activated on another device"
BY_THE_BANK = "BankID on this phone was deactivated by the bank; activate BankID on this phone again"
LOCKED = "this phone is locked after five wrong app PINs in a row; activate BankID on it again"


def deactivated(tx: Tx, device: Device) -> errors.Forbidden:
    """The 403 `deviceDeactivated` for `device`, its reason read from the customer's state now."""
    customer = tx.customer(device.customer_id)
    active = tx.active_device(device.customer_id)
    if device.status == "locked":
        why = LOCKED
    elif customer is not None and customer.status == "blocked":
        why = BLOCKED
    elif active is not None and active.id != device.id:
        why = REPLACED
    else:
        why = BY_THE_BANK
    return errors.Forbidden(why, "deviceDeactivated")

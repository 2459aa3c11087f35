"""Code devices (kodebrikke) on the signer's side: assignment, and one-time codes checked in the HSM.

A code is accepted once: the last accepted time step is stored, and only later steps count. One step
of drift either way is allowed (RFC 6238 section 5.2). Wrong codes are throttled per national
identity number (`signer.guesses`), never suspend the device: a stranger who knows a customer's
number must not be able to take the device away. Only codes of ASCII digits are compared.
"""

from __future__ import annotations

import hmac

from tillit.hsm import otp
from tillit.hsm.errors import HsmError, KeyNotFound
from tillit.signer import errors
from tillit.signer.context import SignerContext
from tillit.signer.customers.lookup import find_customer
from tillit.signer.store.records import CodeDevice
from tillit.signer.store.tx import Tx


class CodeDevices:
    def __init__(self, context: SignerContext) -> None:
        self.context = context

    def assign(self, personal_number: str, serial: str) -> CodeDevice:
        """Give the customer the code device whose secret the HSM holds (`tillit-hsm codedevice issue`)."""
        customer = find_customer(self.context, personal_number)
        try:
            otp.hsm_code(self.context.keys, serial, 0)
        except KeyNotFound:
            raise errors.NotFound(
                f"no code device {serial} in the HSM (issue it with `tillit-hsm codedevice issue`)"
            ) from None
        at = self.context.clock()
        with self.context.store.tx() as tx:
            existing = tx.code_device(serial)
            if existing is not None and existing.customer_id not in (None, customer.id):
                raise errors.Conflict(f"code device {serial} belongs to another customer")
            if existing is None:
                tx.insert_code_device(CodeDevice(serial, customer.id, "active", 0, 0, at))
            else:
                tx.update_code_device(serial, customer_id=customer.id, status="active", failures=0, assigned_at=at)
            tx.audit("codedevice.assigned", customer.id, at, serial=serial)
            device = tx.code_device(serial)
        assert device is not None
        return device

    def check(self, tx: Tx, personal_number: str, customer_id: str | None, code: str) -> bool:
        """Check a code for the number inside the caller's transaction: True when it is the customer's
        code device's next code. A number without a customer or without a usable code device answers
        like a wrong code, and is throttled like one. Raises `RateLimited` while throttled."""
        guesses = self.context.guesses
        guesses.admit_code(tx, personal_number)
        device = tx.code_device_of(customer_id) if customer_id is not None else None
        at = self.context.clock()
        matched: int | None = None
        if device is not None and device.status == "active" and well_formed(code):
            current = otp.counter_at(at)
            try:
                for counter in (current - 1, current, current + 1):
                    if counter > device.last_counter and hmac.compare_digest(
                        otp.hsm_code(self.context.keys, device.serial, counter).encode(), code.encode()
                    ):
                        matched = counter
                        break
            except HsmError as e:
                raise errors.Unavailable(f"the HSM could not check the code: {e}") from e
        failures = guesses.decide_code(tx, personal_number, matched is not None)
        if device is None or customer_id is None:
            return False
        if matched is not None:
            tx.update_code_device(device.serial, last_counter=matched, failures=0)
            tx.audit("codedevice.accepted", customer_id, at, serial=device.serial)
            return True
        tx.update_code_device(device.serial, failures=failures)
        tx.audit("codedevice.rejected", customer_id, at, serial=device.serial, failures=failures)
        return False


def well_formed(code: str) -> bool:
    """Six ASCII digits (`str.isdigit` alone also accepts other scripts' digits)."""
    return len(code) == otp.DIGITS and code.isascii() and code.isdigit()

"""Code devices (kodebrikke) on the signer's side: assignment, and one-time codes checked in the HSM.

A code is accepted once: the last accepted time step is stored, and only later steps count. One step
of drift either way is allowed (RFC 6238 section 5.2). Five wrong codes in a row suspend the device.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from hsm import otp
from hsm.errors import HsmError, KeyNotFound
from signer import errors
from signer.store import CodeDevice, Tx

if TYPE_CHECKING:
    from signer.service import Signer

MAX_FAILURES = 5


class CodeDevices:
    def __init__(self, service: Signer) -> None:
        self.service = service

    def assign(self, personal_number: str, serial: str) -> CodeDevice:
        customer = self.service.customer(personal_number)
        try:
            otp.hsm_code(self.service.hsm, serial, 0)
        except KeyNotFound:
            raise errors.NotFound(
                f"no code device {serial} in the HSM (issue it with `tillit-hsm codedevice issue`)"
            ) from None
        at = self.service.clock()
        with self.service.store.tx() as tx:
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

    def check(self, tx: Tx, customer_id: str, code: str) -> bool:
        """Check a code inside the caller's transaction; raise when the device is missing or suspended."""
        device = tx.code_device_of(customer_id)
        if device is None:
            raise errors.Conflict("the customer has no code device", "noCodeDevice")
        if device.status != "active":
            raise errors.Forbidden("the code device is suspended after five wrong codes", "codeDeviceSuspended")
        at = self.service.clock()
        current = otp.counter_at(at)
        matched: int | None = None
        if len(code) == otp.DIGITS and code.isdigit():
            try:
                for counter in (current - 1, current, current + 1):
                    if counter > device.last_counter and hmac.compare_digest(
                        otp.hsm_code(self.service.hsm, device.serial, counter), code
                    ):
                        matched = counter
                        break
            except HsmError as e:
                raise errors.Unavailable(f"the HSM could not check the code: {e}") from e
        if matched is not None:
            tx.update_code_device(device.serial, last_counter=matched, failures=0)
            tx.audit("codedevice.accepted", customer_id, at, serial=device.serial)
            return True
        failures = device.failures + 1
        suspended = failures >= MAX_FAILURES
        tx.update_code_device(device.serial, failures=failures, status="suspended" if suspended else "active")
        tx.audit("codedevice.rejected", customer_id, at, serial=device.serial, failures=failures)
        if suspended:
            tx.audit("codedevice.suspended", customer_id, at, serial=device.serial)
        return False

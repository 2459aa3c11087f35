"""Phones' signed requests: the signature over method, path, body, time and nonce checked with the
device's key, and each nonce accepted once (signer/signed_requests.py reads the headers).

A refused request from a device Tillit knows (a signature that does not match, a replayed nonce) is
audited within a budget per device; one naming a device that does not exist writes nothing
(devices/refusals.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from tillit.signer import errors
from tillit.signer.context import SignerContext
from tillit.signer.deactivation import deactivated
from tillit.signer.device_keys import verify_device_signature
from tillit.signer.devices.refusals import RefusalAudits
from tillit.signer.signed_requests import read_signed_headers
from tillit.signer.store.records import Device
from tillit.signer.store.tx import Tx
from tillit.signer.wire import REQUEST_SKEW_SECONDS, request_message


@dataclass(frozen=True)
class DeviceRequest:
    """A phone's signed request, checked but not yet recorded (`DeviceAuth.check`).

    `refusal` is set when the device is unknown or the signature does not match; the refusal is
    audited, or else the nonce used up, in the transaction that settles the request."""

    device_id: str
    nonce: str
    at: float
    device: Device | None
    refusal: str | None


class DeviceAuth:
    def __init__(self, context: SignerContext) -> None:
        self.context = context
        self._nonces_pruned_at = 0.0
        self.refusals = RefusalAudits()

    def authenticate(
        self, method: str, path: str, body: bytes, headers: dict[str, str], allow_inactive: bool = False
    ) -> Device:
        """Check a phone request's signature, timestamp and nonce (a nonce is accepted once)."""
        return self.settle(self.check(method, path, body, headers), allow_inactive)

    def settle(self, request: DeviceRequest, allow_inactive: bool = False) -> Device:
        """Record a checked request on its own: the refusal's audit entry, or its nonce used up. A
        request naming no known device is refused without a write."""
        if request.device is None:
            raise self._refusal(request)
        with self.context.store.tx() as tx:
            refusal = self.settle_in(tx, request)
        if refusal is not None:
            raise refusal  # after the commit, so the audit log keeps the refused attempt
        return self._requesting_device(request, allow_inactive)

    def check(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> DeviceRequest:
        """The device lookup and the signature check, which need no writer's lock. Malformed or
        stale headers are refused at once; the rest is settled by `settle_in`."""
        at = self.context.clock()
        signed = read_signed_headers(headers, at, "device key")
        device_id, timestamp, nonce, signature = signed.device_id, signed.timestamp, signed.nonce, signed.signature
        with self.context.store.read() as tx:
            device = tx.device(device_id)
        refusal: str | None = None
        if device is None:
            refusal = "unknown device"
        else:
            key = self.context.seals.device_key(device)  # None: put there by someone else than Tillit
            if key is None or not verify_device_signature(
                key, signature, request_message(method, path, body, timestamp, nonce)
            ):
                refusal = "signature"
        return DeviceRequest(device_id, nonce, at, device, refusal)

    def settle_in(self, tx: Tx, request: DeviceRequest) -> errors.SignerError | None:
        """Audit a refused request, or use up its nonce; the error to raise after the commit."""
        if request.refusal is not None:
            if request.device is not None and self.refusals.may_audit(request.device_id):
                tx.audit("device.refused", request.device_id, request.at, why=request.refusal)
            return self._refusal(request)
        expires = request.at + 2 * REQUEST_SKEW_SECONDS
        if not tx.use_device_nonce(request.device_id, request.nonce, expires, request.at, self._prune_due(request.at)):
            if self.refusals.may_audit(request.device_id):
                tx.audit("device.replay", request.device_id, request.at)
            return errors.Unauthorized("this request was already received (replay)")
        return None

    def _refusal(self, request: DeviceRequest) -> errors.SignerError:
        if request.device is None:
            self.refusals.not_audited()
            return errors.Unauthorized("unknown device")
        return errors.Unauthorized("the device signature does not match the request")

    def _requesting_device(self, request: DeviceRequest, allow_inactive: bool) -> Device:
        device = request.device
        assert device is not None and request.refusal is None
        if device.status != "active" and not allow_inactive:
            with self.context.store.read() as tx:
                refusal = deactivated(tx, device)
            raise refusal
        return device

    def _prune_due(self, at: float) -> bool:
        """Expired device nonces go about once a second (a scan of their table), not on every request."""
        if at - self._nonces_pruned_at < 1.0:
            return False
        self._nonces_pruned_at = at
        return True

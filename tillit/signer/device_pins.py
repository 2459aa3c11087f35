"""The app PIN, checked by the signer: a copy of the phone's files cannot be tested against PINs offline.

The phone seals its device key (AES-256-GCM) under HKDF-SHA256(scrypt(PIN, salt) || server_secret),
`server_secret` being 32 random bytes that this module keeps per device and hands out only to a right
PIN (phone/keystore.py has the phone's half). What each side keeps:

- the phone's profile file: the sealed device key, the scrypt salt, and the *unlock key* (ECDSA
  P-256, not encrypted: it says which phone asks, not that its owner does). No value in it depends
  on the PIN alone: the one PIN-dependent value, the ciphertext, needs `server_secret` as well. A
  copy of the file cannot tell a right PIN from a wrong one; every guess has to be asked here.
- this table (`device_pins`, one row per device): the unlock key's public half, SHA-256 of the PIN
  verifier (verifier = HKDF-SHA256(scrypt(PIN, salt), info "tillit app PIN verifier")), the
  `server_secret`, the wrong PINs in a row and when the device was locked. The salt is only on the
  phone, so this row alone cannot be tested against PINs either; the two together could (both the
  phone and the database stolen), as with any PIN that is not checked inside an HSM.

Registration (`register`, `POST /v1/app/pin`): once, right after activation, signed by the new device
key: the unlock key, the verifier and the `server_secret`, which the phone drew and never writes to
its disk. A record is never replaced (409): a PIN cannot be reset around the count.

Unlock (`unlock`, `POST /v1/app/unlock`): signed by the unlock key with the usual X-Tillit-* headers
(timestamp within the allowed skew, each nonce once), body `{"pinVerifier"}`. A request naming a
device without a PIN record is refused without a write, and one whose signature does not match is
audited within the same budget a device's own refused requests have (devices/refusals.py): nobody
can fill the audit log without the unlock key. One transaction reads
the device and its PIN record (row locked on PostgreSQL), compares the verifier, and counts with a
conditional UPDATE that matches only while the record is not locked (`Tx.right_device_pin`,
`Tx.wrong_device_pin`): a right PIN sets the count to 0 and releases `server_secret`; a wrong one
answers 401 `wrongPin` with the attempts left; the `PIN_ATTEMPTS`-th wrong PIN in a row locks the
record and sets the device's status to `locked` (it then approves nothing, and no order can be started
for it) and answers 403 `deviceLocked`, as does every later unlock, right PIN or not: the customer
must activate BankID again. Concurrent guesses each count once and none is decided after the lock.
A deactivated device answers 403 `deviceDeactivated`, saying why (`signer/deactivation.py`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from tillit.signer import errors
from tillit.signer.deactivation import deactivated
from tillit.signer.devices.refusals import RefusalAudits
from tillit.signer.push import Notifier
from tillit.signer.signed_requests import read_signed_headers
from tillit.signer.store.base import Store
from tillit.signer.store.records import Device, DevicePin
from tillit.signer.store.tx import Tx
from tillit.signer.wire import (
    PIN_ATTEMPTS,
    REQUEST_SKEW_SECONDS,
    PinRegistration,
    UnlockGranted,
    UnlockRequest,
    request_message,
)

SECRET_BYTES = 32


class WrongPin(errors.SignerError):
    """A wrong app PIN, counted: 401 with the attempts left before the device is locked."""

    status = 401
    code = "wrongPin"

    def __init__(self, attempts_left: int) -> None:
        super().__init__(f"wrong app PIN: {attempts_left} attempt{'s' if attempts_left != 1 else ''} left")
        self.attempts_left = attempts_left


def device_locked() -> errors.Forbidden:
    return errors.Forbidden(
        f"this phone is locked after {PIN_ATTEMPTS} wrong app PINs in a row: activate BankID on it again",
        "deviceLocked",
    )


def verifier_hash(verifier: bytes) -> str:
    return hashlib.sha256(verifier).hexdigest()


def _base64_bytes(value: str, what: str, length: int) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise errors.InvalidInput(f"{what} is not valid base64") from None
    if len(raw) != length:
        raise errors.InvalidInput(f"{what} must be {length} bytes")
    return raw


def _p256_public_key(pem: str) -> bytes:
    """The unlock key as DER SubjectPublicKeyInfo; InvalidInput unless it is an ECDSA P-256 public key."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        raise errors.InvalidInput("unlockKey is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise errors.InvalidInput("unlockKey must be an ECDSA P-256 public key")
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _verifies(public_der: bytes, signature: bytes, message: bytes) -> bool:
    key = serialization.load_der_public_key(public_der)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    try:
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


@dataclass
class DevicePins:
    """Registers and checks app PINs; thread-safe (every decision is one store transaction)."""

    store: Store
    clock: Callable[[], float]
    notifier: Notifier | None = None
    attempts: int = PIN_ATTEMPTS
    refusals: RefusalAudits = field(default_factory=RefusalAudits)  # which refused unlocks are audited

    def register(self, device: Device, body: PinRegistration) -> None:
        """Keep the device's PIN record (the caller has checked the device key's signature)."""
        if device.status != "active":
            with self.store.read() as tx:
                refusal = deactivated(tx, device)
            raise refusal
        record = DevicePin(
            device_id=device.id,
            unlock_key=_p256_public_key(body.unlock_key),
            verifier_hash=verifier_hash(_base64_bytes(body.pin_verifier, "pinVerifier", SECRET_BYTES)),
            server_secret=_base64_bytes(body.server_secret, "serverSecret", SECRET_BYTES),
            failures=0,
            locked_at=None,
            created_at=self.clock(),
        )
        with self.store.tx() as tx:
            added = tx.insert_device_pin(record)
            if added:
                tx.audit("device.pin_registered", device.id, record.created_at)
        if not added:
            raise errors.Conflict("this device has an app PIN already", "pinRegistered")

    def unlock(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> UnlockGranted:
        """A phone's unlock request (headers lower-cased): the `server_secret` for a right PIN; raises
        WrongPin, or Forbidden `deviceLocked` / `deviceDeactivated`, or Unauthorized."""
        at = self.clock()
        headers_read = read_signed_headers(headers, at, "unlock key")
        device_id, nonce = headers_read.device_id, headers_read.nonce
        with self.store.read() as tx:
            known = tx.device_pin(device_id)
        message = request_message(method, path, body, headers_read.timestamp, nonce)
        if known is None or not _verifies(known.unlock_key, headers_read.signature, message):
            if known is None:
                self.refusals.not_audited()
            elif self.refusals.may_audit(device_id):
                with self.store.tx() as tx:
                    tx.audit("device.unlock_refused", device_id, at, why="signature")
            raise errors.Unauthorized("unknown device, or the unlock signature does not match")
        try:
            verifier = _base64_bytes(UnlockRequest.model_validate_json(body).pin_verifier, "pinVerifier", SECRET_BYTES)
        except ValidationError:
            raise errors.InvalidInput('the body must be {"pinVerifier": base64 of 32 bytes}') from None
        refusal: errors.SignerError | None = None
        secret = b""
        locked_now = False
        with self.store.tx() as tx:
            if not tx.use_device_nonce(device_id, nonce, at + 2 * REQUEST_SKEW_SECONDS, at, prune=False):
                tx.audit("device.replay", device_id, at)
                refusal = errors.Unauthorized("this request was already received (replay)")
            else:
                refusal, secret, locked_now = self._decide(tx, device_id, verifier, at)
        if locked_now and self.notifier is not None:
            self.notifier.notify(device_id)  # a phone waiting for requests learns it is no longer active
        if refusal is not None:
            raise refusal  # after the commit: the count and its audit entry are kept
        return UnlockGranted(server_secret=base64.b64encode(secret).decode())

    def check(self, device_id: str, verifier: bytes) -> bytes:
        """The PIN check alone, counted as `unlock` counts it, for a caller in this process that has
        no unlock request to check (the kiosk demo's own phone): the `server_secret`, or the refusal."""
        at = self.clock()
        with self.store.tx() as tx:
            if tx.device_pin(device_id) is None:
                raise errors.NotFound("this device has no app PIN registered")
            refusal, secret, locked_now = self._decide(tx, device_id, verifier, at)
        if locked_now and self.notifier is not None:
            self.notifier.notify(device_id)
        if refusal is not None:
            raise refusal
        return secret

    def _decide(
        self, tx: Tx, device_id: str, verifier: bytes, at: float
    ) -> tuple[errors.SignerError | None, bytes, bool]:
        """(refusal, server_secret, whether this guess locked the device), in the caller's transaction."""
        record = tx.device_pin(device_id, lock=True)
        device = tx.device(device_id)
        assert record is not None  # records are never deleted
        if record.locked_at is not None or device is None or device.status == "locked":
            return device_locked(), b"", False
        if device.status != "active":
            return deactivated(tx, device), b"", False
        if hmac.compare_digest(verifier_hash(verifier), record.verifier_hash):
            if tx.right_device_pin(device_id):
                return None, record.server_secret, False
            return device_locked(), b"", False
        failures = tx.wrong_device_pin(device_id, self.attempts, at)
        if failures is None:
            return device_locked(), b"", False
        tx.audit("device.pin_wrong", device_id, at, inARow=failures)
        if failures >= self.attempts:
            tx.audit("device.locked", device_id, at, why="wrong app PINs", inARow=failures)
            return device_locked(), b"", True
        return WrongPin(self.attempts - failures), b"", False

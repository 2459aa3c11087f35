"""The phone's keystore: one profile per file under $TILLIT_HOME/phone/, the device key sealed by the app PIN
and a secret only the signer gives out, to a right PIN.

The ECDSA P-256 device key is stored as PKCS#8 DER encrypted with AES-256-GCM (the profile name as
associated data) under HKDF-SHA256(scrypt(PIN, salt) || server secret), scrypt with n=2**15, r=8,
p=1 and a random salt. The server secret (32 random bytes) is drawn here when the profile is made,
handed to the signer once at activation (`PinEnrolment`, `POST /v1/app/pin`, signed by the new
device key) and never written to this disk. To unlock, the phone sends the PIN verifier
(HKDF-SHA256(scrypt(PIN, salt)), info "tillit app PIN verifier") to `POST /v1/app/unlock`, signed
by the profile's *unlock key*; the signer compares it with the hash it keeps, counts wrong PINs in a
row, and returns the server secret only for a right one. Five wrong PINs in a row lock the device
for good: BankID must be activated on it again (signer/device_pins.py has the signer's half).

What a copy of a profile file gives: the sealed key, the salt, the unlock key (stored unencrypted:
it only says which phone asks) and nothing else that depends on the PIN. Without the server secret
no PIN can be tried offline, right or wrong: each guess has to be asked of the signer, which
answers five of them. The rest of the profile (server, device id, who it belongs to) is not secret.

Profiles from before (the device key sealed under the PIN alone, no unlock key) are refused with a
message to activate BankID again (`OldProfile`): migrating one on its next unlock would keep the
same device key, which any copy taken before the migration still opens offline with the PIN.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import httpx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from tillit.phone.client import PhoneError, unlock_secret
from tillit.signer.wire import PinRegistration

SCRYPT_N = 2**15
WRAP = "hkdf-sha256(scrypt(pin) || server secret)"
"""`sealed_key["wrap"]` of a profile whose PIN the signer checks; profiles without it are refused."""
PROFILE_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


class KeystoreError(Exception):
    """A message for the phone's user: wrong PIN, no such profile, not activated."""


class WrongPin(KeystoreError):
    """The signer counted a wrong app PIN; `attempts_left` before it locks the device."""

    def __init__(self, attempts_left: int) -> None:
        super().__init__(f"wrong app PIN: {attempts_left} attempt{'s' if attempts_left != 1 else ''} left")
        self.attempts_left = attempts_left


class DeviceLocked(KeystoreError):
    """Five wrong app PINs in a row: the signer has locked this device for good."""


class DeviceDeactivated(KeystoreError):
    """The signer says this device is no longer the customer's; the message is the signer's reason
    (BankID activated on another device, blocked, or deactivated by the bank), `deactivated_reason`
    the same as a code of `wire.DEACTIVATION_REASONS` (None from a signer that does not say)."""

    def __init__(self, message: str, deactivated_reason: str | None = None) -> None:
        super().__init__(message)
        self.deactivated_reason = deactivated_reason


class SignerUnreachable(KeystoreError):
    """The signer, which checks the app PIN, could not be asked."""


class OldProfile(KeystoreError):
    """A profile from before the signer checked the PIN: it must be activated again."""


def phone_home() -> Path:
    home = os.environ.get("TILLIT_HOME") or str(Path.home() / ".local" / "share" / "tillit")
    return Path(home) / "phone"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _pin_key(pin: str, salt: bytes) -> bytes:
    """scrypt(PIN, salt): the slow step, done once per unlock."""
    return Scrypt(salt=salt, length=32, n=SCRYPT_N, r=8, p=1).derive(pin.encode())


def _hkdf(material: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)


def pin_verifier(pin_key: bytes) -> bytes:
    """What the signer checks a PIN by (it keeps only its SHA-256); it opens nothing on the phone."""
    return _hkdf(pin_key, b"tillit app PIN verifier")


def _wrap_key(pin_key: bytes, server_secret: bytes) -> bytes:
    return _hkdf(pin_key + server_secret, b"tillit device key wrap")


def _pem_public(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass(frozen=True)
class PinEnrolment:
    """What the signer must keep to check this profile's PIN: sent once at activation, never saved here."""

    unlock_public_pem: str
    verifier: bytes
    server_secret: bytes

    def registration(self) -> PinRegistration:
        return PinRegistration(
            unlock_key=self.unlock_public_pem,
            pin_verifier=_b64(self.verifier),
            server_secret=_b64(self.server_secret),
        )


@dataclass
class Profile:
    name: str
    server: str
    public_key_pem: str
    sealed_key: dict[str, str]
    device_id: str | None = None
    personal_number: str | None = None
    customer_name: str | None = None
    device_name: str = "phone"
    activated_at: float | None = None
    biometric: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    deactivated_at: float | None = None
    unlock_key: str | None = None  # PEM PKCS#8, not encrypted: it signs unlock requests, it opens nothing
    locked_at: float | None = None
    deactivated_reason: str | None = None  # the signer's words, when it said why
    # Between `Keystore.create` and the registration at activation only; never saved.
    pending_pin: PinEnrolment | None = field(default=None, repr=False, compare=False)

    @property
    def activated(self) -> bool:
        return self.device_id is not None

    def unlock(
        self, pin: str, release: Callable[[bytes], bytes] | None = None, http: httpx.Client | None = None
    ) -> ec.EllipticCurvePrivateKey:
        """The device key, once the signer has checked the PIN (one round trip).

        `release(verifier)` returns the server secret for a right PIN; by default it is
        `POST /v1/app/unlock` to the profile's server (over `http`, if given). Raises WrongPin,
        DeviceLocked, DeviceDeactivated, SignerUnreachable, OldProfile or KeystoreError."""
        if not self.unlock_key or self.sealed_key.get("wrap") != WRAP:
            raise OldProfile(
                f"the profile '{self.name}' was made by an older version of the app, whose PIN could be tried"
                f" offline; activate BankID on it again (tillit-phone --profile {self.name} activate --replace ...)"
            )
        if self.device_id is None:
            raise KeystoreError(f"the profile '{self.name}' is not activated (run `tillit-phone activate` first)")
        pin_key = _pin_key(pin, base64.b64decode(self.sealed_key["salt"]))
        verifier = pin_verifier(pin_key)
        server_secret = release(verifier) if release is not None else self._ask_signer(verifier, http)
        return self._open(pin_key, server_secret)

    def _ask_signer(self, verifier: bytes, http: httpx.Client | None) -> bytes:
        assert self.unlock_key is not None and self.device_id is not None
        unlock_key = serialization.load_pem_private_key(self.unlock_key.encode(), password=None)
        assert isinstance(unlock_key, ec.EllipticCurvePrivateKey)
        try:
            return unlock_secret(self.server, self.device_id, unlock_key, verifier, http)
        except PhoneError as e:
            if e.code == "wrongPin":
                raise WrongPin(e.attempts_left or 0) from None
            if e.code == "deviceLocked":
                raise DeviceLocked(e.reason) from None
            if e.code == "deviceDeactivated":
                raise DeviceDeactivated(e.reason, e.deactivated_reason) from None
            raise KeystoreError(f"the signer refused to unlock this phone: {e.reason}") from None
        except httpx.HTTPError as e:
            raise SignerUnreachable(
                f"cannot reach the signer at {self.server}, which checks the app PIN: {type(e).__name__}"
            ) from None

    def _open(self, pin_key: bytes, server_secret: bytes) -> ec.EllipticCurvePrivateKey:
        sealed = self.sealed_key
        try:
            der = AESGCM(_wrap_key(pin_key, server_secret)).decrypt(
                base64.b64decode(sealed["nonce"]), base64.b64decode(sealed["ciphertext"]), self.name.encode()
            )
        except (InvalidTag, KeyError, ValueError):
            raise KeystoreError(f"the phone profile '{self.name}' is damaged (its key does not open)") from None
        private = serialization.load_der_private_key(der, password=None)
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        return private

    def remember(self, entry: dict[str, Any], keep: int = 20) -> None:
        self.history = [{"at": time.time(), **entry}, *self.history][:keep]


UNSAVED = frozenset({"pending_pin"})


class Keystore:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or phone_home()

    def path(self, name: str) -> Path:
        if not name or len(name) > 64 or not set(name) <= PROFILE_NAME_CHARS:
            raise KeystoreError("a profile name is 1-64 letters, digits, '-' or '_'")
        return self.folder / f"{name}.json"

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def create(self, name: str, pin: str, server: str) -> tuple[Profile, ec.EllipticCurvePrivateKey]:
        """A new profile with a fresh device key and unlock key (replaces an older profile). The device
        key is sealed under the PIN and a fresh server secret; `profile.pending_pin` holds what the
        signer must be given at activation (the secret is in memory only)."""
        if len(pin) < 4 or not pin.isdigit():
            raise KeystoreError("the app PIN is at least 4 digits")
        private = ec.generate_private_key(ec.SECP256R1())
        unlock = ec.generate_private_key(ec.SECP256R1())
        salt, nonce, server_secret = secrets.token_bytes(16), secrets.token_bytes(12), secrets.token_bytes(32)
        pin_key = _pin_key(pin, salt)
        der = private.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        ciphertext = AESGCM(_wrap_key(pin_key, server_secret)).encrypt(nonce, der, name.encode())
        profile = Profile(
            name=name,
            server=server.rstrip("/"),
            public_key_pem=_pem_public(private),
            sealed_key={
                "kdf": f"scrypt-n{SCRYPT_N}-r8-p1",
                "wrap": WRAP,
                "cipher": "AES-256-GCM",
                "salt": _b64(salt),
                "nonce": _b64(nonce),
                "ciphertext": _b64(ciphertext),
            },
            unlock_key=unlock.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode(),
            pending_pin=PinEnrolment(_pem_public(unlock), pin_verifier(pin_key), server_secret),
        )
        self.save(profile)
        return profile, private

    def save(self, profile: Profile) -> None:
        path = self.path(profile.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # two processes may save at once
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        stored = {f.name: getattr(profile, f.name) for f in fields(Profile) if f.name not in UNSAVED}
        with os.fdopen(fd, "w") as f:
            json.dump(stored, f, indent=2)
        os.replace(tmp, path)

    def load(self, name: str) -> Profile:
        path = self.path(name)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise KeystoreError(f"no phone profile '{name}' (activate it first)") from None
        except ValueError:
            raise KeystoreError(f"the phone profile '{name}' is damaged") from None
        known = {f.name for f in fields(Profile)} - UNSAVED
        return Profile(**{k: v for k, v in data.items() if k in known})

    def update(self, name: str, change: Callable[[Profile], None]) -> Profile:
        """Reload the profile, apply `change`, save: another process (the screen, a script) may have written it."""
        profile = self.load(name)
        change(profile)
        self.save(profile)
        return profile

    def remember(self, name: str, entry: dict[str, Any]) -> Profile:
        """Add one decision (or other event) to the profile's history, newest first."""
        return self.update(name, lambda p: p.remember(entry))

"""The phone's keystore: one profile per file under $TILLIT_HOME/phone/, the device key sealed by the app PIN.

The ECDSA P-256 device key is stored as PKCS#8 DER encrypted with AES-256-GCM under a key derived
from the app PIN with scrypt (n=2**15, r=8, p=1) and a random salt. A wrong PIN fails the GCM tag
and unlocks nothing. The rest of the profile (server, device id, who it belongs to) is not secret.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

SCRYPT_N = 2**15
PROFILE_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


class KeystoreError(Exception):
    """A message for the phone's user: wrong PIN, no such profile, not activated."""


def phone_home() -> Path:
    home = os.environ.get("TILLIT_HOME") or str(Path.home() / ".local" / "share" / "tillit")
    return Path(home) / "phone"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _derive(pin: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=SCRYPT_N, r=8, p=1).derive(pin.encode())


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

    @property
    def activated(self) -> bool:
        return self.device_id is not None

    def unlock(self, pin: str) -> ec.EllipticCurvePrivateKey:
        """The device key; raises KeystoreError for a wrong PIN."""
        sealed = self.sealed_key
        try:
            key = _derive(pin, base64.b64decode(sealed["salt"]))
            der = AESGCM(key).decrypt(
                base64.b64decode(sealed["nonce"]), base64.b64decode(sealed["ciphertext"]), self.name.encode()
            )
        except (InvalidTag, KeyError, ValueError):
            raise KeystoreError("wrong app PIN") from None
        private = serialization.load_der_private_key(der, password=None)
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        return private

    def remember(self, entry: dict[str, Any], keep: int = 20) -> None:
        self.history = [{"at": time.time(), **entry}, *self.history][:keep]


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
        """A new profile with a fresh device key sealed under the PIN (replaces an older profile)."""
        if len(pin) < 4 or not pin.isdigit():
            raise KeystoreError("the app PIN is at least 4 digits")
        private = ec.generate_private_key(ec.SECP256R1())
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        der = private.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        ciphertext = AESGCM(_derive(pin, salt)).encrypt(nonce, der, name.encode())
        public_pem = (
            private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        profile = Profile(
            name=name,
            server=server.rstrip("/"),
            public_key_pem=public_pem,
            sealed_key={
                "kdf": f"scrypt-n{SCRYPT_N}-r8-p1",
                "cipher": "AES-256-GCM",
                "salt": _b64(salt),
                "nonce": _b64(nonce),
                "ciphertext": _b64(ciphertext),
            },
        )
        self.save(profile)
        return profile, private

    def save(self, profile: Profile) -> None:
        path = self.path(profile.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # two processes may save at once
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(profile), f, indent=2)
        os.replace(tmp, path)

    def load(self, name: str) -> Profile:
        path = self.path(name)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise KeystoreError(f"no phone profile '{name}' (activate it first)") from None
        except ValueError:
            raise KeystoreError(f"the phone profile '{name}' is damaged") from None
        known = {f.name for f in fields(Profile)}
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

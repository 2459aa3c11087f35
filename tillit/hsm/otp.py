"""Code devices (kodebrikke): RFC 4226 HOTP / RFC 6238 TOTP with the secret held in the token.

The device file stands in for the physical device: it holds the same secret, so the simulator
(`tillit-hsm codedevice show`) computes codes in software, while the signer computes them with
the non-extractable copy in the HSM.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tillit.hsm import errors
from tillit.hsm.client import Hsm

STEP_SECONDS = 30
DIGITS = 6


def secret_label(serial: str) -> str:
    return f"codedevice:{serial}"


def truncate(mac: bytes, digits: int = DIGITS) -> str:
    """RFC 4226 section 5.3 dynamic truncation."""
    offset = mac[-1] & 0x0F
    value = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{value % 10**digits:0{digits}d}"


def counter_at(at: float | None = None) -> int:
    return int((time.time() if at is None else at) // STEP_SECONDS)


class HmacKeys(Protocol):
    """Where the code devices' secrets are: an `Hsm`, or anything that computes HMAC-SHA1 as it does."""

    def hmac_sha1(self, label: str, data: bytes) -> bytes: ...


def hsm_code(hsm: HmacKeys, serial: str, counter: int) -> str:
    """The code device's code at `counter`, computed with its secret in the HSM."""
    return truncate(hsm.hmac_sha1(secret_label(serial), counter.to_bytes(8, "big")))


@dataclass(frozen=True)
class CodeDeviceFile:
    serial: str
    secret: bytes

    def code(self, at: float | None = None) -> str:
        mac = hmac.new(self.secret, counter_at(at).to_bytes(8, "big"), hashlib.sha1).digest()
        return truncate(mac)

    def dumps(self) -> str:
        """The device file's text (JSON): the serial, the secret in base32 and the TOTP parameters."""
        data = {
            "serial": self.serial,
            "secret": base64.b32encode(self.secret).decode(),
            "algorithm": "TOTP-SHA1",
            "digits": DIGITS,
            "period": STEP_SECONDS,
        }
        return json.dumps(data, indent=2) + "\n"

    def dump(self, path: Path) -> None:
        """Write the device file to `path` (0600, replacing what is there)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.dumps())

    @classmethod
    def load(cls, path: Path) -> CodeDeviceFile:
        try:
            data = json.loads(path.read_text())
            return cls(serial=str(data["serial"]), secret=base64.b32decode(data["secret"]))
        except FileNotFoundError:
            raise errors.HsmError(f"no code device file at {path}") from None
        except (ValueError, KeyError, TypeError):
            raise errors.HsmError(f"{path} is not a code device file") from None


def check_serial(serial: str) -> None:
    """HsmError unless `serial` is 1-64 letters, digits or dashes."""
    if not serial or len(serial) > 64 or not serial.replace("-", "").isalnum():
        raise errors.HsmError("a code device serial is 1-64 letters, digits or dashes")


def issue_code_device(hsm: Hsm, serial: str) -> CodeDeviceFile:
    """Create a secret, import it into the HSM as a non-extractable generic secret."""
    check_serial(serial)
    secret = secrets.token_bytes(20)
    hsm.import_secret(secret_label(serial), secret)
    return CodeDeviceFile(serial=serial, secret=secret)

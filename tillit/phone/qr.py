"""What the phone reads before it starts an order it did not get by number: a QR code or an autostart token.

An animated QR code (BankID RP API v6.0, as pybankid's `generate_qr_code_content` makes it) holds
`bankid.<qrStartToken>.<qrTime>.<qrAuthCode>`: the order's QR start token, the whole seconds since
the order started, and the hex HMAC-SHA256 of those seconds under the order's QR start secret. The
phone never has the secret: it checks only the content's shape here, so that a mistyped or cut
code gets one clear line, and sends it to the signer (`POST /v1/app/scan`), which checks the HMAC
and the age. An autostart token (`POST /v1/app/autostart`) is a UUID.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

QR_PREFIX = "bankid"
_TOKEN = re.compile(r"^[0-9A-Za-z-]{1,100}$")
_SECONDS = re.compile(r"^[0-9]{1,9}$")
_AUTH_CODE = re.compile(r"^[0-9a-fA-F]{64}$")


class MalformedStart(ValueError):
    """The QR content or autostart token is not in the shape BankID gives it (the message says how)."""


@dataclass(frozen=True)
class QrContent:
    start_token: str
    seconds: int
    auth_code: str
    text: str  # as read, sent to the signer unchanged


def parse_qr_content(text: str) -> QrContent:
    """The parts of `bankid.<qrStartToken>.<qrTime>.<qrAuthCode>` (blanks around it ignored);
    MalformedStart when it has another shape."""
    content = text.strip()
    parts = content.split(".")
    if len(parts) != 4 or parts[0] != QR_PREFIX:
        raise MalformedStart("not a BankID QR code: it must read bankid.<qrStartToken>.<seconds>.<qrAuthCode>")
    _, token, seconds, auth_code = parts
    if not _TOKEN.match(token):
        raise MalformedStart("not a BankID QR code: the qrStartToken is empty or has characters a token never has")
    if not _SECONDS.match(seconds):
        raise MalformedStart("not a BankID QR code: the seconds since the order started are not a whole number")
    if not _AUTH_CODE.match(auth_code):
        raise MalformedStart("not a BankID QR code: the qrAuthCode is not 64 hex digits (HMAC-SHA256)")
    return QrContent(token, int(seconds), auth_code.lower(), content)


def parse_autostart_token(text: str) -> str:
    """The autostart token in its canonical form (a UUID); MalformedStart when it is not one."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise MalformedStart("not an autostart token: it must be a UUID (hex digits in groups of 8-4-4-4-12)") from None

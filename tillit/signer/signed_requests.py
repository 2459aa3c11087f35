"""The phone's signed requests: the four signature headers, read and checked for form and freshness.

Every request a phone makes is signed (the device key, or for an unlock the unlock key) over
`signer.wire.request_message(method, path, body, timestamp, nonce)`. This reads the headers the same
way for both keys; whose key verifies the signature, and what the nonce then settles, is the caller's.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from tillit.signer import errors
from tillit.signer.wire import DEVICE_HEADER, NONCE_HEADER, REQUEST_SKEW_SECONDS, SIGNATURE_HEADER, TIMESTAMP_HEADER

MAX_ID_CHARS = 64


@dataclass(frozen=True)
class SignedHeaders:
    device_id: str
    timestamp: str
    nonce: str
    signature: bytes


def read_signed_headers(headers: dict[str, str], at: float, key: str) -> SignedHeaders:
    """The signature headers (names lower-cased) of a request signed by `key` ("device key", "unlock
    key"); raises Unauthorized when one is missing, malformed, or stamped too far from `at`."""
    device_id = headers.get(DEVICE_HEADER.lower(), "")
    timestamp = headers.get(TIMESTAMP_HEADER.lower(), "")
    nonce = headers.get(NONCE_HEADER.lower(), "")
    signature_b64 = headers.get(SIGNATURE_HEADER.lower(), "")
    if not (device_id and timestamp and nonce and signature_b64) or max(len(nonce), len(device_id)) > MAX_ID_CHARS:
        raise errors.Unauthorized(f"this request must be signed by the {key}")
    try:
        stamp = int(timestamp)
        signature = base64.b64decode(signature_b64, validate=True)
    except ValueError:
        raise errors.Unauthorized(f"malformed signature headers (signed by the {key})") from None
    if abs(at - stamp) > REQUEST_SKEW_SECONDS:
        raise errors.Unauthorized("the request's timestamp is too far from the server's clock")
    return SignedHeaders(device_id, timestamp, nonce, signature)

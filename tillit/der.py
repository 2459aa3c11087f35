"""DER encoding by joining bytes, for the structures Tillit signs on every order.

asn1crypto builds a structure from Python values in milliseconds (a timestamp token about 5 ms, an
OCSP response about 4 ms): more CPU than Argon2id's share of a sign order. The hot structures (the
detached CMS, the timestamp token, the OCSP response) are therefore assembled from DER pieces: the
constant ones encoded once by asn1crypto, the changing ones (times, serials, digests, signature
values) with the few encoders here. Every such structure is checked by `openssl` and pyHanko in the
tests; anything built once or rarely stays with asn1crypto.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime

from asn1crypto import algos, core

SEQUENCE = 0x30
SET = 0x31
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
ENUMERATED = 0x0A
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18


def element(tag: int, content: bytes) -> bytes:
    """One DER element: the tag byte, the definite length, the content."""
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


def context(number: int, content: bytes, constructed: bool = True) -> bytes:
    """A context-specific element [number] around `content`: constructed for an explicit tag or an
    implicit one over a constructed type (a SEQUENCE, a SET OF), primitive for an implicit one over
    a primitive type."""
    return element((0xA0 if constructed else 0x80) | number, content)


def integer(value: int) -> bytes:
    """An INTEGER in the fewest two's-complement bytes."""
    size = (value + (value < 0)).bit_length() // 8 + 1
    return element(INTEGER, value.to_bytes(size, "big", signed=True))


def generalized_time(at: datetime) -> bytes:
    """GeneralizedTime in UTC, with fractions of a second only when there are any, trailing zeros
    dropped (X.690 11.7)."""
    at = at.astimezone(UTC)
    text = at.strftime("%Y%m%d%H%M%S")
    if at.microsecond:
        text += "." + f"{at.microsecond:06d}".rstrip("0")
    return element(GENERALIZED_TIME, (text + "Z").encode())


def utc_time(at: datetime) -> bytes:
    """UTCTime (years 1950 to 2049, as RFC 5280 and 5652 use it)."""
    at = at.astimezone(UTC)
    if not 1950 <= at.year < 2050:
        raise ValueError("UTCTime holds the years 1950 to 2049 only")
    return element(UTC_TIME, at.strftime("%y%m%d%H%M%SZ").encode())


# -- CMS pieces every signature Tillit joins shares (the detached CMS, the timestamp token) -------

SHA256_ALGORITHM = bytes(algos.DigestAlgorithm({"algorithm": "sha256"}).dump())
"""The SHA-256 AlgorithmIdentifier, as asn1crypto encodes it."""
VERSION_1 = integer(1)
# By dotted number: naming them through asn1crypto's CMS types at import would build those types'
# name maps before pyHanko registers its attributes (signing-certificate-v2), which they would then lack.
_OID_SIGNING_TIME = bytes(core.ObjectIdentifier("1.2.840.113549.1.9.5").dump())
_OID_MESSAGE_DIGEST = bytes(core.ObjectIdentifier("1.2.840.113549.1.9.4").dump())
_OID_SIGNED_DATA = bytes(core.ObjectIdentifier("1.2.840.113549.1.7.2").dump())


def signing_time_attribute(at: datetime) -> bytes:
    """The signing-time attribute (RFC 5652 11.3; UTCTime, so 1950 to 2049)."""
    return element(SEQUENCE, _OID_SIGNING_TIME + element(SET, utc_time(at)))


def message_digest_attribute(content: bytes) -> bytes:
    """The message-digest attribute over `content` (RFC 5652 11.2), SHA-256."""
    return element(
        SEQUENCE, _OID_MESSAGE_DIGEST + element(SET, element(OCTET_STRING, hashlib.sha256(content).digest()))
    )


def signed_data_content_info(signed_data: bytes) -> bytes:
    """A ContentInfo holding the DER SignedData `signed_data`."""
    return element(SEQUENCE, _OID_SIGNED_DATA + context(0, signed_data))


def signed_attributes(attributes: Iterable[bytes]) -> bytes:
    """The content of a SignerInfo's SET OF signed attributes (RFC 5652 5.3), sorted as DER sorts a
    SET OF. The signature covers them as a SET OF (`element(SET, ...)`); the SignerInfo carries the
    same content [0] IMPLICIT (`signer_info`)."""
    return b"".join(sorted(attributes))


def signer_info(
    signer: bytes, attributes: bytes, signature_algorithm: bytes, signature: bytes, unsigned: bytes = b""
) -> bytes:
    """A version-1 SignerInfo (RFC 5652 5.3) with SHA-256 as its digest algorithm: `signer` the DER
    SignerIdentifier, `attributes` from `signed_attributes`, `unsigned` its [1] unsigned attributes
    or nothing."""
    return element(
        SEQUENCE,
        VERSION_1
        + signer
        + SHA256_ALGORITHM
        + context(0, attributes)
        + signature_algorithm
        + element(OCTET_STRING, signature)
        + unsigned,
    )

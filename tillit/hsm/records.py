"""Small named records on the token whose counter only ever moves forward (`Hsm.read_record`,
`Hsm.advance_record`). The HSM layer gives them no meaning; the audit log keeps its anchor in one.

A record is a private, unmodifiable token data object (CKO_DATA, CKA_PRIVATE and CKA_TOKEN true,
CKA_MODIFIABLE false) labelled with the record's name. Private objects can only be made, read or
destroyed in a session logged in with the user PIN, so whoever lacks the PIN can neither forge nor
remove one. (A public object with the same label, which an unauthenticated session may create, is
never looked at.) The object's value is

    b"TRC1" || counter (8 bytes, big-endian) || SHA-256(counter || payload) || payload

The digest makes a half-written object (a crash inside C_CreateObject) read as absent instead of as
a wrong value.

Why objects are made anew instead of updated: SoftHSM refuses to change CKA_VALUE of a data object
(CKR_ATTRIBUTE_READ_ONLY), and a create is all or nothing where an update in place could tear. So
advancing a record creates a new object with the higher counter and then destroys the lower ones;
a reader takes the highest valid counter among the label's objects. That order makes the record
monotonic without any lock between processes: a writer whose counter is not higher than the one
it found writes nothing, and a slower writer that loses a race leaves an object with a lower
counter, which no reader prefers and the next writer removes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from pkcs11 import Attribute, ObjectClass

MAGIC = b"TRC1"
_COUNTER_BYTES = 8
_DIGEST_BYTES = 32
MAX_PAYLOAD = 4096
"""Records are meant to be small: the token keeps every object in its memory."""


@dataclass(frozen=True)
class Record:
    counter: int
    payload: bytes


def encode(record: Record) -> bytes:
    counter = record.counter.to_bytes(_COUNTER_BYTES, "big")
    return MAGIC + counter + hashlib.sha256(counter + record.payload).digest() + record.payload


def decode(value: bytes) -> Record | None:
    """The record an object's value holds, or None when it is not one (or was torn)."""
    head = len(MAGIC) + _COUNTER_BYTES + _DIGEST_BYTES
    if len(value) < head or not value.startswith(MAGIC):
        return None
    counter = value[len(MAGIC) : len(MAGIC) + _COUNTER_BYTES]
    digest = value[len(MAGIC) + _COUNTER_BYTES : head]
    payload = value[head:]
    if hashlib.sha256(counter + payload).digest() != digest:
        return None
    return Record(int.from_bytes(counter, "big"), payload)


def template(label: str, record: Record) -> dict[Attribute, Any]:
    return {
        Attribute.CLASS: ObjectClass.DATA,
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.MODIFIABLE: False,
        Attribute.LABEL: label,
        Attribute.APPLICATION: "tillit-record",
        Attribute.VALUE: encode(record),
    }


def search_template(label: str) -> dict[Attribute, Any]:
    """Only private objects: a public one could have been made without the PIN."""
    return {Attribute.CLASS: ObjectClass.DATA, Attribute.PRIVATE: True, Attribute.LABEL: label}


def newest(found: list[tuple[Any, Record]]) -> Record | None:
    """The record readers take: the highest counter (ties, which only a race can make: the larger
    payload, so that every reader takes the same one)."""
    if not found:
        return None
    return max((r for _, r in found), key=lambda r: (r.counter, r.payload))

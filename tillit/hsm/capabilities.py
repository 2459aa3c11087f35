"""What the signer daemon needs of a PKCS#11 module and its token, checked when it starts.

`missing` lists, in words an administrator can act on, whatever the token lacks: the mechanisms
Tillit calls (from the module's mechanism list), the token's random number generator and write
access, enough sessions, and, by trying them with session objects that are never stored on the
token, a P-256 key pair that signs, a private data object (the audit anchor's record), an X.509
certificate object, an HMAC secret (code devices' one-time codes) and a generated HMAC-SHA256
secret (the seal key: signer/seals.py). `Hsm.check_capabilities`
turns a non-empty list into one `ModuleUnsuitable` line. docs/hsm.md says the same for people.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from typing import Any

import pkcs11
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass, TokenFlag
from pkcs11.util.ec import encode_named_curve_parameters

from tillit.hsm.module import session_limits


@dataclass(frozen=True)
class Need:
    mechanism: Mechanism
    flag: MechanismFlag
    what: str
    for_what: str
    key_bits: int | None = None


NEEDS = (
    Need(Mechanism.EC_KEY_PAIR_GEN, MechanismFlag.GENERATE_KEY_PAIR, "generate", "every key (P-256)", 256),
    Need(Mechanism.ECDSA, MechanismFlag.SIGN, "sign", "every signature (Tillit hashes with SHA-256 itself)", 256),
    Need(Mechanism.SHA_1_HMAC, MechanismFlag.SIGN, "sign", "code devices' one-time codes"),
    Need(
        Mechanism.GENERIC_SECRET_KEY_GEN,
        MechanismFlag.GENERATE,
        "generate",
        "the seal key (customers' password hashes, device keys)",
    ),
    Need(Mechanism.SHA256_HMAC, MechanismFlag.SIGN, "sign", "the seals on customers' password hashes and device keys"),
)
# One session logged in for signatures, one for administration, one for loading the key index.
SESSIONS = 3
RW_SESSIONS = 2


def missing(token: Any, session: Any, module_path: str) -> list[str]:
    """What the token lacks of what the daemon needs; empty when it has everything."""
    found: list[str] = []
    slot = token.slot
    mechanisms = set(slot.get_mechanisms())
    for need in NEEDS:
        name = f"CKM_{need.mechanism.name}"
        if need.mechanism not in mechanisms:
            found.append(f"no {name}, needed for {need.for_what}")
            continue
        info = slot.get_mechanism_info(need.mechanism)
        if not info.flags & need.flag:
            found.append(f"{name} may not {need.what}, needed for {need.for_what}")
        elif need.key_bits and info.max_key_length and not info.min_key_length <= need.key_bits <= info.max_key_length:
            found.append(f"{name} takes keys of {info.min_key_length}-{info.max_key_length} bits, not {need.key_bits}")
    flags = token.flags
    if not flags & TokenFlag.RNG:
        found.append("no random number generator (the health check asks the token for random bytes)")
    if flags & TokenFlag.WRITE_PROTECTED:
        found.append("the token is write-protected (keys, certificates and records are stored on it)")
    most, most_rw = session_limits(module_path, int(slot.slot_id))
    if most is not None and most < SESSIONS:
        found.append(f"at most {most} sessions, the daemon opens {SESSIONS}")
    if most_rw is not None and most_rw < RW_SESSIONS:
        found.append(f"at most {most_rw} read-write sessions, the daemon opens {RW_SESSIONS}")
    if not found:  # the mechanisms are there: see that they work as Tillit calls them
        found.extend(_tried(session))
    return found


def _tried(session: Any) -> list[str]:
    """Tillit's uses, tried on session objects (`TOKEN` false: gone when the session closes, never
    stored); a refusal is reported with what it would break."""
    found: list[str] = []
    digest = hashlib.sha256(b"tillit capability check").digest()
    try:
        params = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
        )
        public, private = params.generate_keypair(
            store=False, public_template={Attribute.VERIFY: True}, private_template={Attribute.SIGN: True}
        )
        try:
            if len(private.sign(digest, mechanism=Mechanism.ECDSA)) != 64:
                found.append("a P-256 ECDSA signature is not 64 bytes (r and s)")
        finally:
            private.destroy()
            public.destroy()
    except pkcs11.PKCS11Error as e:
        found.append(f"cannot generate a P-256 key pair and sign with it ({type(e).__name__})")
    data_object = {
        Attribute.CLASS: ObjectClass.DATA,
        Attribute.TOKEN: False,
        Attribute.PRIVATE: True,
        Attribute.LABEL: "tillit capability check",
        Attribute.VALUE: b"\x00" * 64,
    }
    try:
        session.create_object(data_object).destroy()
    except pkcs11.PKCS11Error as e:
        found.append(f"cannot store a private data object, needed for the audit anchor ({type(e).__name__})")
    try:
        session.create_object(_certificate_object()).destroy()
    except pkcs11.PKCS11Error as e:
        found.append(f"cannot store an X.509 certificate object, needed beside every key ({type(e).__name__})")
    secret = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
        Attribute.TOKEN: False,
        Attribute.SENSITIVE: True,
        Attribute.SIGN: True,
        Attribute.VALUE: b"\x01" * 20,
    }
    try:
        key = session.create_object(secret)
        try:
            key.sign(b"\x00" * 8, mechanism=Mechanism.SHA_1_HMAC)
        finally:
            key.destroy()
    except pkcs11.PKCS11Error as e:
        found.append(f"cannot import an HMAC secret and sign with it, needed for code devices ({type(e).__name__})")
    try:
        sealing = session.generate_key(
            KeyType.GENERIC_SECRET, 256, store=False, template={Attribute.SENSITIVE: True, Attribute.SIGN: True}
        )
        try:
            sealing.sign(b"\x00" * 8, mechanism=Mechanism.SHA256_HMAC)
        finally:
            sealing.destroy()
    except pkcs11.PKCS11Error as e:
        found.append(
            "cannot generate an HMAC-SHA256 secret and sign with it, needed for the seals on password hashes"
            f" and device keys ({type(e).__name__})"
        )
    return found


def _certificate_object() -> dict[Attribute, Any]:
    """A session X.509 certificate object, as `Hsm.store_certificate` stores one, for a throwaway
    self-signed certificate made in software."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tillit capability check")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(minutes=1))
        .sign(key, hashes.SHA256())
    )
    return {
        Attribute.CLASS: ObjectClass.CERTIFICATE,
        Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
        Attribute.TOKEN: False,
        Attribute.PRIVATE: False,
        Attribute.LABEL: "tillit capability check",
        Attribute.SUBJECT: cert.subject.public_bytes(),
        Attribute.ISSUER: cert.issuer.public_bytes(),
        Attribute.SERIAL_NUMBER: b"\x02\x01\x01",  # DER INTEGER 1
        Attribute.VALUE: cert.public_bytes(serialization.Encoding.DER),
    }

"""`KeyPairs`: making, describing and destroying key pairs, their public halves and certificates.

Admin work (generate, import, destroy) runs on a second session so that a 9 ms key generation does
not hold up signatures.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import time
from typing import Any

import pkcs11
from asn1crypto import keys as asn1_keys
from asn1crypto import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
from pkcs11.util.rsa import encode_rsa_public_key

from tillit.hsm import errors
from tillit.hsm.connection import SESSION_GONE, translated
from tillit.hsm.keys import Algorithm, KeyInfo
from tillit.hsm.lookup import KeyLookup

# SoftHSM's file store loses writes while other processes read the token: a generation now and then
# fails (FunctionFailed, ObjectHandleInvalid), or succeeds but leaves a private key that lost its
# label, id and sensitivity (a few generations in a hundred with two processes listing the token's
# keys; seen when signers sharing a home start together). A generation is therefore checked, and one
# that did not leave a whole pair is undone and tried again with a fresh id, at most this many times.
GENERATE_ATTEMPTS = 5
CONTENDED_GENERATION = (pkcs11.FunctionFailed, *SESSION_GONE)
_PAIR = (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)


class KeyPairs(KeyLookup):
    """Key pairs on the token: generate, describe, list, destroy, the public half, may-sign, certificates."""

    @translated("generate the key")
    def generate_key(self, label: str, algorithm: Algorithm = Algorithm.EC_P256) -> KeyInfo:
        """Generate a sign-only key pair in the token; the private key can never leave it."""
        if not label or len(label) > 128:
            raise errors.HsmError("a key label is 1 to 128 characters")
        with self._writing():
            if self._retrying(lambda: self._find(ObjectClass.PRIVATE_KEY, label)):
                raise errors.KeyExists(f"a key labelled '{label}' already exists")
            for attempt in range(1, GENERATE_ATTEMPTS + 1):
                key_id = secrets.token_bytes(16)
                made: tuple[Any, ...] = ()
                try:
                    with self._gate.shared():
                        made = self._generate_pair(label, key_id, algorithm)
                except CONTENDED_GENERATION as e:
                    failure = type(e).__name__  # whether anything was stored is looked at below
                except pkcs11.PKCS11Error as e:
                    raise errors.HsmError(f"the token could not generate the key: {type(e).__name__}") from e
                try:  # found as every later use finds it: the private key by label, its public half by id
                    info = self.key_info(label)
                    self.public_key(label)
                    if info.id_hex == key_id.hex() and info.sensitive and not info.extractable and info.can_sign:
                        return info
                    failure = "the private key lost its attributes"
                except errors.KeyNotFound:
                    failure = "the pair was not whole"
                self._forget(label)
                self._retrying(functools.partial(self._destroy_attempt, label, key_id, made))
                if attempt < GENERATE_ATTEMPTS:
                    time.sleep(0.01 * attempt)
            raise errors.HsmError(f"the token could not generate the key: {failure}")

    def _generate_pair(self, label: str, key_id: bytes, algorithm: Algorithm) -> tuple[Any, Any]:
        """Generate the pair; python-pkcs11's (public, private) objects."""
        public_template, private_template = key_templates(label, key_id)
        if algorithm.is_ec:
            params = self._admin.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
            )
            return params.generate_keypair(  # type: ignore[no-any-return]
                store=True, public_template=public_template, private_template=private_template
            )
        return self._admin.generate_keypair(  # type: ignore[no-any-return]
            KeyType.RSA,
            algorithm.rsa_bits,
            store=True,
            public_template=public_template,
            private_template=private_template,
        )

    def _destroy_attempt(self, label: str, key_id: bytes, made: tuple[Any, ...]) -> None:
        """Destroy what a generation that did not leave a whole pair stored: the objects found with
        its id, and the ones it returned (which may have lost their label and id)."""
        for obj in (*[obj for cls in _PAIR for obj in self._find(cls, label, key_id)], *made):
            with contextlib.suppress(pkcs11.PKCS11Error):
                obj.destroy()

    def _forget(self, label: str) -> None:
        """Drop the cached handles, public key and certificate of `label`."""
        self._keys.pop(label, None)
        self._certificates.pop(label, None)
        self._public_keys.pop(label, None)

    @translated("read the key's attributes")
    def key_info(self, label: str) -> KeyInfo:
        attrs = self._retrying(
            lambda: self._private_key(label).get_attributes(
                [
                    Attribute.ID,
                    Attribute.SENSITIVE,
                    Attribute.ALWAYS_SENSITIVE,
                    Attribute.EXTRACTABLE,
                    Attribute.NEVER_EXTRACTABLE,
                    Attribute.LOCAL,
                    Attribute.SIGN,
                ]
            )
        )
        return KeyInfo(
            label=label,
            id_hex=bytes(attrs[Attribute.ID]).hex(),
            algorithm=self._algorithms[label],
            sensitive=bool(attrs[Attribute.SENSITIVE]),
            always_sensitive=bool(attrs[Attribute.ALWAYS_SENSITIVE]),
            extractable=bool(attrs[Attribute.EXTRACTABLE]),
            never_extractable=bool(attrs[Attribute.NEVER_EXTRACTABLE]),
            local=bool(attrs[Attribute.LOCAL]),
            can_sign=bool(attrs[Attribute.SIGN]),
            has_certificate=bool(self._retrying(lambda: self._find(ObjectClass.CERTIFICATE, label))),
        )

    @translated("list its keys")
    def list_keys(self) -> list[KeyInfo]:
        """Every labelled key pair. A private key without a label is not Tillit's: SoftHSM leaves
        one behind when a contended generation loses its attributes (see `generate_key`)."""

        def labels() -> list[str]:
            keys = self._admin.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})
            return sorted(label for k in keys if (label := k.label))

        return [self.key_info(label) for label in self._retrying(labels)]

    @translated("destroy the key")
    def destroy_key(self, label: str) -> None:
        """Destroy the key pair and any certificate stored beside it."""
        with self._writing():
            found = [
                obj
                for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY, ObjectClass.CERTIFICATE)
                for obj in self._find(cls, label)
            ]
            if not any(o.object_class == ObjectClass.PRIVATE_KEY for o in found):
                raise errors.KeyNotFound(f"no private key labelled '{label}' on the token")
            self._forget(label)
            for obj in found:
                obj.destroy()

    @translated("give the public key")
    def public_key(self, label: str) -> PublicKeyTypes:
        """The public half of a key pair (cached: a lookup searches the token).

        Matched to the private key by ID as well as label: SoftHSM stores the public half first,
        so a process killed inside `generate_key` leaves a public key with no private one, and
        the next generation under that label adds a second public key beside it."""
        cached = self._public_keys.get(label)
        if cached is not None:
            return cached

        def load() -> PublicKeyTypes:
            try:
                key_id = bytes(self._private_key(label)[Attribute.ID])
            except errors.KeyNotFound:
                raise errors.KeyNotFound(f"no public key labelled '{label}' on the token") from None
            found = self._find(ObjectClass.PUBLIC_KEY, label, key_id)
            if not found:
                raise errors.KeyNotFound(f"no public key labelled '{label}' on the token")
            if len(found) > 1:
                raise errors.HsmError(f"several public keys are labelled '{label}' with the private key's id")
            pub = found[0]
            if pub.key_type == KeyType.EC:
                der = encode_ec_public_key(pub)
            else:
                der = encode_rsa_public_key(pub)
                return serialization.load_der_public_key(_rsa_spki(der))
            return serialization.load_der_public_key(der)

        public = self._retrying(load)
        self._public_keys[label] = public
        return public

    @translated("change whether the key may sign")
    def set_signing_allowed(self, label: str, allowed: bool) -> None:
        """Mark a key usable or unusable for signing (CKA_SIGN)."""
        with self._writing():
            for obj in self._find(ObjectClass.PRIVATE_KEY, label):
                obj[Attribute.SIGN] = allowed
            self._keys.pop(label, None)

    # -- certificates --------------------------------------------------------------------------

    @translated("store the certificate")
    def store_certificate(self, label: str, der: bytes) -> None:
        """Store an X.509 certificate beside its key (same label and id), replacing an older one."""
        with self._writing():
            key_id = bytes.fromhex(self.key_info(label).id_hex)
            for old in self._find(ObjectClass.CERTIFICATE, label):
                old.destroy()
            self._admin.create_object(certificate_template(label, key_id, der))
            self._certificates[label] = der

    @translated("give the certificate")
    def certificate(self, label: str) -> bytes | None:
        """The certificate stored beside a key, or None (cached once found: a lookup searches)."""
        cached = self._certificates.get(label)
        if cached is None and self._await_index():
            cached = self._certificates.get(label)
        if cached is not None:
            return cached

        def load() -> bytes | None:
            found = self._find(ObjectClass.CERTIFICATE, label)
            return bytes(found[0][Attribute.VALUE]) if found else None

        der = self._retrying(load)
        if der is not None:
            self._certificates[label] = der
        return der


def certificate_template(label: str, key_id: bytes, der: bytes) -> dict[Attribute, Any]:
    """The template of an X.509 certificate stored beside its key pair (the same label and id): a
    public token object, with the subject, issuer and serial number PKCS#11 asks for."""
    cert = x509.Certificate.load(der)
    return {
        Attribute.CLASS: ObjectClass.CERTIFICATE,
        Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,
        Attribute.LABEL: label,
        Attribute.ID: key_id,
        Attribute.SUBJECT: cert.subject.dump(),
        Attribute.ISSUER: cert.issuer.dump(),
        Attribute.SERIAL_NUMBER: cert["tbs_certificate"]["serial_number"].dump(),
        Attribute.VALUE: der,
    }


def key_templates(label: str, key_id: bytes) -> tuple[dict[Attribute, Any], dict[Attribute, Any]]:
    """The public and private templates of every key pair made for Tillit: the private half
    sensitive, never extractable, a token object, and good for signing only."""
    public = {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,
        Attribute.VERIFY: True,
        Attribute.ENCRYPT: False,
        Attribute.WRAP: False,
        Attribute.LABEL: label,
        Attribute.ID: key_id,
    }
    private = {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.SIGN: True,
        Attribute.SIGN_RECOVER: False,
        Attribute.DECRYPT: False,
        Attribute.UNWRAP: False,
        Attribute.DERIVE: False,
        Attribute.LABEL: label,
        Attribute.ID: key_id,
    }
    return public, private


def _rsa_spki(pkcs1_der: bytes) -> bytes:
    return bytes(
        asn1_keys.PublicKeyInfo(
            {
                "algorithm": {"algorithm": "rsa", "parameters": None},
                "public_key": asn1_keys.RSAPublicKey.load(pkcs1_der),
            }
        ).dump()
    )

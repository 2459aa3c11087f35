"""`Signing`: signatures with the token's private keys and HMACs with its secrets (code devices,
the signer's seal key), signatures counted for /metrics; `verify_public` checks a signature in
software."""

from __future__ import annotations

import hashlib
from typing import Any

import pkcs11
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

from tillit.hsm import errors
from tillit.hsm.connection import translated
from tillit.hsm.lookup import KeyLookup


def key_kind(label: str) -> str:
    """What a key is for, from its label: per-person keys (`customer:<id>:<generation>`) share one kind."""
    return label.split(":", 1)[0]


class Signing(KeyLookup):
    """Signing (SHA-256, ECDSA or PKCS#1 v1.5) and HMAC-SHA1 on the token, with counts of signatures."""

    def sign(self, label: str, data: bytes) -> bytes:
        """Sign data with SHA-256: a DER ECDSA signature, or PKCS#1 v1.5 for RSA keys."""
        return self.sign_digest(label, hashlib.sha256(data).digest())

    def sign_digest(self, label: str, digest: bytes) -> bytes:
        """Sign a SHA-256 digest computed on the host (SoftHSM 2.6 has no CKM_ECDSA_SHA256)."""
        if len(digest) != 32:
            raise errors.SigningError("expected a SHA-256 digest")

        def operation() -> bytes:
            key = self._private_key(label)
            if not hasattr(key, "sign"):  # python-pkcs11 leaves `sign` off keys with CKA_SIGN false
                raise errors.SigningError(f"key '{label}' may not sign")
            if self._algorithms[label].is_ec:
                raw = key.sign(digest, mechanism=Mechanism.ECDSA)
                half = len(raw) // 2
                return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
            return bytes(key.sign(_SHA256_DIGEST_INFO + digest, mechanism=Mechanism.RSA_PKCS))

        try:
            signature = self._retrying(operation)
        except errors.HsmError:
            raise
        except pkcs11.PKCS11Error as e:
            # python-pkcs11 has no class for CKR_KEY_FUNCTION_NOT_PERMITTED (0x68): match its message.
            if str(e) == "Unmapped error code 0x68":
                raise errors.SigningError(f"key '{label}' may not sign") from None
            raise errors.SigningError(f"the token refused to sign: {type(e).__name__}") from e
        kind = key_kind(label)
        with self._count_lock:
            self._signature_count += 1
            self._signatures_by_key[kind] = self._signatures_by_key.get(kind, 0) + 1
        return signature

    @property
    def signatures(self) -> int:
        """Signatures this process has asked the token for (the daemon's /metrics publishes it)."""
        return self._signature_count

    def signatures_by_key(self) -> dict[str, int]:
        """`signatures` by key: each service key by its label, every per-person key under the label's
        part before the first ':' (e.g. all customer keys as `customer`)."""
        with self._count_lock:
            return dict(self._signatures_by_key)

    # -- secrets and HMAC (code devices) -------------------------------------------------------

    @translated("import the secret")
    def import_secret(self, label: str, secret: bytes) -> None:
        """Import an HMAC secret as a sensitive, non-extractable generic secret."""
        with self._writing():
            if self._find(ObjectClass.SECRET_KEY, label):
                raise errors.KeyExists(f"a secret labelled '{label}' already exists")
            self._admin.create_object(
                {
                    Attribute.CLASS: ObjectClass.SECRET_KEY,
                    Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.SIGN: True,
                    Attribute.VERIFY: True,
                    Attribute.LABEL: label,
                    Attribute.VALUE: secret,
                }
            )

    @translated("generate the secret")
    def generate_secret(self, label: str) -> None:
        """Generate a 256-bit HMAC secret in the token: sensitive, non-extractable, never seen outside."""
        with self._writing():
            if self._find(ObjectClass.SECRET_KEY, label):
                raise errors.KeyExists(f"a secret labelled '{label}' already exists")
            self._admin.generate_key(
                KeyType.GENERIC_SECRET,
                256,
                label=label,
                store=True,
                template={
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.SIGN: True,
                    Attribute.VERIFY: True,
                    Attribute.ENCRYPT: False,
                    Attribute.DECRYPT: False,
                    Attribute.WRAP: False,
                    Attribute.UNWRAP: False,
                    Attribute.DERIVE: False,
                },
            )

    def has_secret(self, label: str) -> bool:
        try:
            self._secret(label)
        except errors.KeyNotFound:
            return False
        return True

    @translated("compute the HMAC")
    def hmac_sha1(self, label: str, data: bytes) -> bytes:
        """HMAC-SHA1 with the secret `label` (code devices' one-time codes, RFC 4226)."""
        return self._retrying(lambda: bytes(self._secret(label).sign(data, mechanism=Mechanism.SHA_1_HMAC)))

    @translated("compute the HMAC")
    def hmac_sha256(self, label: str, data: bytes) -> bytes:
        """HMAC-SHA256 with the secret `label`."""
        return self._retrying(lambda: bytes(self._secret(label).sign(data, mechanism=Mechanism.SHA256_HMAC)))

    def _secret(self, label: str) -> Any:
        key = self._secrets.get(label)
        if key is None:
            try:
                key = self._session.get_key(object_class=ObjectClass.SECRET_KEY, label=label)
            except pkcs11.NoSuchKey:
                self._confirm_token_present()
                raise errors.KeyNotFound(f"no secret labelled '{label}' on the token") from None
            self._secrets[label] = key
        return key

    @translated("destroy the secret")
    def destroy_secret(self, label: str) -> None:
        with self._writing():
            self._secrets.pop(label, None)
            for obj in self._find(ObjectClass.SECRET_KEY, label):
                obj.destroy()


# DigestInfo prefix for SHA-256 (RFC 8017 section 9.2, note 1).
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def verify_public(public_key: PublicKeyTypes, signature: bytes, data: bytes) -> bool:
    """Verify an `Hsm.sign` signature in software (used by tests and the CA's self-checks)."""
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True

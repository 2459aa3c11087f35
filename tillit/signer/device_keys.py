"""Phones' keys: reading one the app sends, and checking its ECDSA P-256 signatures."""

from __future__ import annotations

import functools

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tillit.signer import errors


def load_device_key(pem_or_der: bytes) -> ec.EllipticCurvePublicKey:
    """A device's public key from PEM or DER; InvalidInput unless it is ECDSA P-256."""
    try:
        key = (
            serialization.load_pem_public_key(pem_or_der)
            if pem_or_der.lstrip().startswith(b"-----")
            else serialization.load_der_public_key(pem_or_der)
        )
    except ValueError:
        raise errors.InvalidInput("the device key is not a public key in PEM or DER") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise errors.InvalidInput("a device key must be ECDSA P-256")
    return key


def device_key_der(pem_or_der: bytes) -> bytes:
    """`load_device_key`, as the DER SubjectPublicKeyInfo the store keeps."""
    key = load_device_key(pem_or_der)
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@functools.lru_cache(maxsize=4096)
def _device_public_key(public_key_der: bytes) -> ec.EllipticCurvePublicKey:
    """The parsed key (every phone request is verified with it: parsing costs half a verify)."""
    key = serialization.load_der_public_key(public_key_der)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def verify_device_signature(public_key_der: bytes, signature: bytes, message: bytes) -> bool:
    try:
        _device_public_key(public_key_der).verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True

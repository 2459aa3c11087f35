"""Signatures made in the token verify in software (`verify_public`) and with `openssl dgst`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tillit.hsm.client import Hsm
from tillit.hsm.keys import Algorithm
from tillit.hsm.signing import verify_public

pytestmark = pytest.mark.hsm

DATA = [b"", b"hello, world", bytes(range(256)) * 40]


@pytest.mark.parametrize("algorithm", list(Algorithm), ids=str)
def test_signatures_verify_in_software(hsm: Hsm, hsm_keys: dict[Algorithm, str], algorithm: Algorithm) -> None:
    label = hsm_keys[algorithm]
    public = hsm.public_key(label)
    for data in DATA:
        signature = hsm.sign(label, data)
        assert verify_public(public, signature, data)
        assert not verify_public(public, signature, data + b"!")
        assert hsm.sign_digest(label, hashlib.sha256(data).digest())
    if algorithm.is_ec:
        r, s = decode_dss_signature(signature)  # DER SEQUENCE { r, s }
        assert r > 0 and s > 0
    else:
        assert len(signature) == algorithm.rsa_bits // 8
        # PKCS#1 v1.5 is deterministic: the same data gives the same signature.
        assert hsm.sign(label, DATA[-1]) == signature


def test_a_signature_does_not_verify_under_another_key(hsm: Hsm, hsm_keys: dict[Algorithm, str]) -> None:
    signature = hsm.sign(hsm_keys[Algorithm.RSA_2048], b"data")
    assert not verify_public(hsm.public_key(hsm_keys[Algorithm.RSA_3072]), signature, b"data")
    assert not verify_public(hsm.public_key(hsm_keys[Algorithm.EC_P256]), signature, b"data")


@pytest.mark.parametrize("algorithm", list(Algorithm), ids=str)
def test_signatures_verify_with_openssl(
    hsm: Hsm,
    hsm_keys: dict[Algorithm, str],
    algorithm: Algorithm,
    openssl: Callable[..., Any],
    tmp_path: Path,
) -> None:
    label = hsm_keys[algorithm]
    data = tmp_path / "data"
    data.write_bytes(b"a document to be signed\n" * 100)
    pub = tmp_path / "pub.pem"
    pub.write_bytes(
        hsm.public_key(label).public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    sig = tmp_path / "sig.der"
    sig.write_bytes(hsm.sign(label, data.read_bytes()))

    result = openssl("dgst", "-sha256", "-verify", pub, "-signature", sig, data)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Verified OK"

    data.write_bytes(data.read_bytes() + b"tampered")
    result = openssl("dgst", "-sha256", "-verify", pub, "-signature", sig, data)
    assert result.returncode != 0
    assert "Verification failure" in result.stdout + result.stderr

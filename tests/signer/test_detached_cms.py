"""`signing.detached_cms` joins DER around parts asn1crypto encoded once: its output must be exactly
what asn1crypto builds for the same SignedData, and verify with cryptography's own key."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import algos, cms, x509
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import NameOID

from tillit.signer.orders.cms import detached_cms

WHEN = datetime(2026, 12, 2, 7, 0, 1, tzinfo=UTC)


def certificate(name: str, key: ec.EllipticCurvePrivateKey, issuer: str | None = None) -> x509.Certificate:
    subject = cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name = cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, issuer or name)])
    built = (
        cx509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(cx509.random_serial_number())
        .not_valid_before(WHEN - timedelta(days=1))
        .not_valid_after(WHEN + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return x509.Certificate.load(built.public_bytes(serialization.Encoding.DER))


def reference_cms(signature: bytes, cert: x509.Certificate, chain: list[x509.Certificate], content: bytes) -> bytes:
    """The same SignedData, every part built by asn1crypto (as the signer did before)."""
    essential = {
        "hash_algorithm": {"algorithm": "sha256"},
        "cert_hash": hashlib.sha256(cert.dump()).digest(),
        "issuer_serial": {
            "issuer": [x509.GeneralName(name="directory_name", value=cert.issuer)],
            "serial_number": cert.serial_number,
        },
    }
    sha256 = algos.DigestAlgorithm({"algorithm": "sha256"})
    ecdsa = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
    attributes = cms.CMSAttributes(
        sorted(
            [
                cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
                cms.CMSAttribute(
                    {
                        "type": "cms_algorithm_protection",
                        "values": [{"digest_algorithm": sha256, "signature_algorithm": ecdsa}],
                    }
                ),
                cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": WHEN})]}),
                cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(content).digest()]}),
                cms.CMSAttribute({"type": "signing_certificate_v2", "values": [{"certs": [essential]}]}),
            ],
            key=lambda attribute: bytes(attribute.dump()),
        )
    )
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number", value={"issuer": cert.issuer, "serial_number": cert.serial_number}
            ),
            "digest_algorithm": sha256,
            "signed_attrs": attributes,
            "signature_algorithm": ecdsa,
            "signature": signature,
        }
    )
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [sha256],
            "encap_content_info": {"content_type": "data"},
            "certificates": [cms.CertificateChoices(name="certificate", value=c) for c in [cert, *chain]],
            "signer_infos": [signer_info],
        }
    )
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump())


@pytest.mark.parametrize("size", [0, 100, 70_000])  # short and long DER lengths alike
def test_detached_cms_is_what_asn1crypto_builds_and_verifies(size: int) -> None:
    import pyhanko.sign.signers  # noqa: F401  (registers signing_certificate_v2 with asn1crypto)

    root_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root = certificate("Tillit Test Root", root_key)
    cert = certificate("Kari Nordmann", key, issuer="Tillit Test Root")
    content = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    signed: list[bytes] = []

    def sign_digest(digest: bytes) -> bytes:
        signed.append(digest)
        return key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))  # as the HSM signs a digest

    made = detached_cms(sign_digest, cert.dump(), [root], content, now=WHEN)
    signature = bytes(cms.ContentInfo.load(made)["content"]["signer_infos"][0]["signature"])
    assert made == reference_cms(signature, cert, [root], content)

    info = cms.ContentInfo.load(made)["content"]["signer_infos"][0]
    attributes_der = bytes(info["signed_attrs"].untag().dump())
    assert signed == [hashlib.sha256(attributes_der).digest()]
    key.public_key().verify(signature, attributes_der, ec.ECDSA(hashes.SHA256()))


def test_detached_cms_refuses_a_signing_time_utctime_cannot_hold() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certificate("Kari Nordmann", key)
    with pytest.raises(ValueError, match="UTCTime"):
        detached_cms(lambda d: b"", cert.dump(), [], b"x", now=datetime(2050, 1, 1, tzinfo=UTC))

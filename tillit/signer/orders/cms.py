"""Detached CMS (CAdES) signatures over documents that are not PDFs, joined from DER pieces."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import algos, cms, core, ocsp, x509

from tillit import der
from tillit.signer.longterm import REVOCATION_VALUES_OID, ValidationMaterial

# Detached CMS (CAdES-BES) signatures: the same SignedData and signed attributes as pyHanko's
# `async_sign_general_data` (content type, CMS algorithm protection, signing time, message digest,
# ESS signing-certificate-v2). Every part that does not change from one signature to the next is
# encoded once by asn1crypto (the constant attributes and algorithm identifiers, and per certificate
# its signing-certificate-v2 attribute, its issuer-and-serial and the certificate set); a signature
# then only joins DER around its signing time, digest and signature value. Built afresh with
# asn1crypto, the structure costs ~1 ms of CPU a signature, and pyHanko's whole CMS ~15 ms: more than
# Argon2's share of a sign order. `openssl cms -verify` checks the result in the tests.
_ECDSA_SHA256 = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}).dump()
_CONTENT_TYPE_DATA = cms.CMSAttribute({"type": "content_type", "values": ["data"]}).dump()
_ALGORITHM_PROTECTION = cms.CMSAttribute(
    {
        "type": "cms_algorithm_protection",
        "values": [
            {
                "digest_algorithm": algos.DigestAlgorithm.load(der.SHA256_ALGORITHM),
                "signature_algorithm": algos.SignedDigestAlgorithm.load(_ECDSA_SHA256),
            }
        ],
    }
).dump()
_OID_DATA = cms.ContentType("data").dump()
_OID_SIGNATURE_TIME_STAMP = cms.CMSAttributeType("signature_time_stamp_token").dump()
_OID_REVOCATION_VALUES = core.ObjectIdentifier(REVOCATION_VALUES_OID).dump()


def _unsigned_attributes(timestamp_token: bytes | None, revocation: ValidationMaterial | None) -> bytes:
    """The SignerInfo's unsignedAttrs ([1] IMPLICIT SET OF Attribute), or nothing: the signature
    timestamp token, and the revocation values: RevocationValues ::= SEQUENCE { crlVals [0]
    SEQUENCE OF CertificateList, ocspVals [1] SEQUENCE OF BasicOCSPResponse } (explicit tags)."""
    attributes = []
    if timestamp_token is not None:
        attributes.append(der.element(der.SEQUENCE, _OID_SIGNATURE_TIME_STAMP + der.element(der.SET, timestamp_token)))
    if revocation is not None:
        basic = [bytes(ocsp.OCSPResponse.load(o)["response_bytes"]["response"].parsed.dump()) for o in revocation.ocsps]
        values = der.element(
            der.SEQUENCE,
            der.context(0, der.element(der.SEQUENCE, b"".join(revocation.crls)))
            + der.context(1, der.element(der.SEQUENCE, b"".join(basic))),
        )
        attributes.append(der.element(der.SEQUENCE, _OID_REVOCATION_VALUES + der.element(der.SET, values)))
    return der.context(1, b"".join(sorted(attributes))) if attributes else b""  # DER sorts a SET OF


@dataclass(frozen=True)
class _SignerParts:
    signing_certificate_v2: bytes  # the ESS attribute (RFC 5035) naming the certificate
    issuer_and_serial: bytes  # the SignerIdentifier
    certificates: bytes  # [0] IMPLICIT SET OF Certificate: the signer's and its chain


@functools.lru_cache(maxsize=4096)
def _signer_parts(cert_der: bytes, chain: tuple[bytes, ...]) -> _SignerParts:
    cert = x509.Certificate.load(cert_der)
    essential = {
        "hash_algorithm": {"algorithm": "sha256"},
        "cert_hash": hashlib.sha256(cert_der).digest(),
        "issuer_serial": {
            "issuer": [x509.GeneralName(name="directory_name", value=cert.issuer)],
            "serial_number": cert.serial_number,
        },
    }
    attribute = cms.CMSAttribute({"type": "signing_certificate_v2", "values": [{"certs": [essential]}]}).dump()
    sid = cms.SignerIdentifier(
        name="issuer_and_serial_number", value={"issuer": cert.issuer, "serial_number": cert.serial_number}
    ).dump()
    certificates = der.context(0, b"".join(sorted((cert_der, *chain))))  # DER sorts a SET OF
    return _SignerParts(bytes(attribute), bytes(sid), certificates)


def detached_cms(
    sign_digest: Callable[[bytes], bytes],
    cert_der: bytes,
    chain: list[x509.Certificate],
    content: bytes,
    now: datetime | None = None,
    *,
    timestamp: Callable[[bytes], bytes] | None = None,
    revocation: ValidationMaterial | None = None,
    encapsulated: bool = False,
) -> bytes:
    """A detached CMS SignedData over `content` by the ECDSA P-256 key of `cert_der`, with the
    certificate and its chain; `sign_digest` signs the SHA-256 of the DER signed attributes.

    With `timestamp` (the signature value in, a DER timestamp token out) the SignerInfo gets the
    signature-time-stamp unsigned attribute (CAdES-T); with `revocation` its CRLs and OCSP responses
    go into the revocation-values unsigned attribute (ETSI TS 101 733 / EN 319 122-1). With
    `encapsulated` the content travels inside (eContent), so the signature alone shows what it signed."""
    parts = _signer_parts(cert_der, tuple(bytes(c.dump()) for c in chain))
    when = now or datetime.now(UTC)  # RFC 5652: signing-time is UTCTime, so 1950 to 2049 only
    signing_time = der.signing_time_attribute(when)
    digest = der.message_digest_attribute(content)
    attributes = der.signed_attributes(
        (_CONTENT_TYPE_DATA, _ALGORITHM_PROTECTION, signing_time, digest, parts.signing_certificate_v2)
    )
    signature = sign_digest(hashlib.sha256(der.element(der.SET, attributes)).digest())
    unsigned = _unsigned_attributes(timestamp(signature) if timestamp else None, revocation)
    signer_info = der.signer_info(parts.issuer_and_serial, attributes, _ECDSA_SHA256, signature, unsigned)
    e_content = der.context(0, der.element(der.OCTET_STRING, content)) if encapsulated else b""
    signed_data = der.element(
        der.SEQUENCE,
        der.VERSION_1
        + der.element(der.SET, der.SHA256_ALGORITHM)
        + der.element(der.SEQUENCE, _OID_DATA + e_content)
        + parts.certificates
        + der.element(der.SET, signer_info),
    )
    return der.signed_data_content_info(signed_data)

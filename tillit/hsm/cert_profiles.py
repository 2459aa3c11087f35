"""What Tillit's certificates say: names, extensions, policies and revocation reasons.

The profiles follow RFC 5280 and, for customers, ETSI EN 319 412-2 for a natural person. The CA
(`tillit.hsm.ca`) builds every certificate and CRL from these pieces.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from asn1crypto import core, keys, x509

from tillit.hsm import errors
from tillit.hsm.keys import Algorithm

# How long the OCSP responder's certificate lives (it carries id-pkix-ocsp-nocheck, so nothing can
# revoke it: RFC 6960 4.2.2.2.1 asks for a short life), and how long before its end it is renewed.
OCSP_CERTIFICATE_LIFETIME = timedelta(days=30)
OCSP_CERTIFICATE_RENEWAL = timedelta(days=7)

# RFC 5280 5.3.1 CRLReason names, each with asn1crypto's name for it (which the ledger stores).
# removeFromCRL is left out: it only says, in a delta CRL, that an entry is gone.
REVOCATION_REASONS = {
    "unspecified": "unspecified",
    "keyCompromise": "key_compromise",
    "cACompromise": "ca_compromise",
    "affiliationChanged": "affiliation_changed",
    "superseded": "superseded",
    "cessationOfOperation": "cessation_of_operation",
    "certificateHold": "certificate_hold",
    "privilegeWithdrawn": "privilege_withdrawn",
    "aACompromise": "aa_compromise",
}
# Any spelling (keyCompromise, key_compromise, key-compromise) by its letters alone.
_REASON_BY_LETTERS = {rfc.lower(): rfc for rfc in REVOCATION_REASONS}

# The certificate policy under which customer certificates are issued. 1.3.6.1.4.1.32473 is the
# private-enterprise number RFC 5612 reserves for documentation: Tillit has no number of its own
# yet. Register one with IANA (free) and put it here before the first production certificate.
TILLIT_POLICY_OID = "1.3.6.1.4.1.32473.1.1.1"
# ETSI EN 319 411-1 NCP (Normalized Certificate Policy): the keys are the CA's customers' keys in
# Tillit's HSM and the certificates are not qualified (Tillit is no qualified trust service provider).
ETSI_NCP_OID = "0.4.0.2042.1.1"
# EN 319 412-1 5.1.3: the subject's serialNumber is "UN:NO-" (a national scheme, "UN" as Norwegian
# BankID uses for its own personal identifier) and then Tillit's persistent id of the customer,
# never the national identity number.
PERSON_ID_SCHEME = "UN:NO-"
# EN 319 412-1 5.1.3 / RFC 3739: the QCStatement saying the serialNumber follows those semantics.
_QC_STATEMENTS = "1.3.6.1.5.5.7.1.3"
_QCS_PKIX_SYNTAX_V2 = "1.3.6.1.5.5.7.11.2"
_SEMANTICS_ID_NATURAL = "0.4.0.194121.1.1"


def now_seconds() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def new_serial() -> int:
    return secrets.randbits(126) | (1 << 126)


def organisation_name(common_name: str) -> x509.Name:
    """A name of Tillit's own (its CAs, services and hosts): a legal person's."""
    return x509.Name.build({"country_name": "NO", "organization_name": "Tillit", "common_name": common_name})


def natural_person_name(full_name: str, person_id: str) -> x509.Name:
    """A customer's subject as EN 319 412-2 4.2.4 wants it for a natural person: countryName,
    givenName and surname (the last word of the name is the surname), commonName, and serialNumber
    Tillit's own persistent identifier of the person under `PERSON_ID_SCHEME`; no organizationName,
    which would make the subject read as a legal person."""
    words = full_name.split()
    if not words:
        raise errors.HsmError("a customer's name is not empty")
    fields = {
        "country_name": "NO",
        "surname": words[-1],
        "common_name": " ".join(words),
        "serial_number": PERSON_ID_SCHEME + person_id,
    }
    if len(words) > 1:
        fields["given_name"] = " ".join(words[:-1])
    return x509.Name.build(fields)


def revocation_reason(name: str) -> str:
    """The RFC 5280 name of a revocation reason given by that name or the older snake_case one
    (`keyCompromise`, `key_compromise`); HsmError for any other."""
    letters = name.replace("_", "").replace("-", "").lower()
    if letters == "removefromcrl":
        raise errors.HsmError("removeFromCRL only appears in delta CRLs (RFC 5280 5.3.1); it revokes nothing")
    found = _REASON_BY_LETTERS.get(letters)
    if found is None:
        raise errors.HsmError(f"unknown revocation reason '{name}' (one of: {', '.join(REVOCATION_REASONS)})")
    return found


def natural_person_semantics(base_url: str) -> x509.Extension:
    """qcStatements (RFC 3739) with the one statement that the subject's serialNumber follows EN 319
    412-1's natural-person identifier semantics, naming the registration authority of the national
    scheme (NAT-5.1.3-05/06: an http(s) URI): Tillit's CA, by its URL; no qualified-certificate
    statement. asn1crypto has no type for
    it, so the DER is spelled out: SEQUENCE { SEQUENCE { id-qcs-pkixQCSyntax-v2, SEQUENCE {
    id-etsi-qcs-semanticsId-Natural, SEQUENCE { [6] URI } } } }."""
    authorities = core.Sequence(contents=uri(f"{base_url}/v1/ca").dump())
    semantics = core.Sequence(contents=core.ObjectIdentifier(_SEMANTICS_ID_NATURAL).dump() + authorities.dump())
    statement = core.Sequence(contents=core.ObjectIdentifier(_QCS_PKIX_SYNTAX_V2).dump() + semantics.dump())
    statements = core.Sequence(contents=statement.dump())
    # Loaded from DER, not built from values: pyHanko, once imported, registers a type for
    # qcStatements with asn1crypto, which then wants values of that type instead of bytes.
    extension = core.Sequence(
        contents=core.ObjectIdentifier(_QC_STATEMENTS).dump() + core.OctetString(statements.dump()).dump()
    )
    return x509.Extension.load(extension.dump())


def key_identifier(public_info: keys.PublicKeyInfo) -> bytes:
    # RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey bit string.
    return hashlib.sha1(public_info["public_key"].contents[1:]).digest()  # noqa: S324


def uri(url: str) -> x509.GeneralName:
    return x509.GeneralName(name="uniform_resource_identifier", value=url)


def extension(name: str, value: object, critical: bool = False) -> x509.Extension:
    return x509.Extension({"extn_id": name, "critical": critical, "extn_value": value})


def ca_extensions(path_length: int) -> list[x509.Extension]:
    return [
        extension("basic_constraints", {"ca": True, "path_len_constraint": path_length}, critical=True),
        extension("key_usage", x509.KeyUsage({"key_cert_sign", "crl_sign"}), critical=True),
    ]


def signature_algorithm(algorithm: Algorithm) -> x509.SignedDigestAlgorithm:
    name = "sha256_ecdsa" if algorithm.is_ec else "sha256_rsa"
    return x509.SignedDigestAlgorithm({"algorithm": name})


def ocsp_certificate_renewal_due(cert: x509.Certificate, issuing: x509.Certificate) -> bool:
    """Whether the OCSP responder's certificate ends within the renewal window, or outlives its
    lifetime (made before responder certificates were short-lived); never when it already ends
    with the issuing CA, which no renewal could outlive."""
    end: datetime = cert.not_valid_after
    left = end - now_seconds()
    if left > OCSP_CERTIFICATE_LIFETIME + timedelta(days=1):
        return True
    return left < OCSP_CERTIFICATE_RENEWAL and end < issuing.not_valid_after

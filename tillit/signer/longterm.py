"""Long-term validation material that Tillit's signatures carry (B-LT and B-LTA).

`validation_material` gathers, in-process and without network, what a B-LT/B-LTA signature
carries: a fresh OCSP response for each end-entity certificate (the customer's and the TSA's,
answered by the CA's own responder code) and the CRLs of the chain. `signing_context` hands them
to pyHanko as a `ValidationContext` with fetching off. A detached CMS signature carries them in
the CAdES revocation-values unsigned attribute (`REVOCATION_VALUES_OID`, `RevocationValues`),
which this module makes known to asn1crypto when it is imported.
Checking signatures is in `tillit.signer.verify`, renewing a PDF's in `tillit.signer.renewal`.
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import core, crl, ocsp, x509
from pyhanko.sign.ades.cades_asn1 import register_cms_attribute
from pyhanko_certvalidator import ValidationContext

from tillit.hsm.ca import CertificateAuthority


@dataclass(frozen=True)
class ValidationMaterial:
    """DER OCSP responses and CRLs for a signature's chains, and the certificates besides the root."""

    ocsps: list[bytes]
    crls: list[bytes]
    certificates: list[x509.Certificate]


def validation_material(
    ca: CertificateAuthority,
    end_entities: list[x509.Certificate],
    issuing_crl: bytes,
    reuse_for: float,
) -> ValidationMaterial:
    """OCSP responses for `end_entities` (all issued by the issuing CA) from the CA's responder code,
    the issuing CA's CRL, and the root's CRL when the CA makes one (it covers the issuing CA)."""
    issuing = ca.issuing_certificate()
    ocsps = ca.ocsp_responses_for(end_entities, reuse_for=reuse_for)
    crls = [issuing_crl, ca.root_crl()]  # the root's CRL: the issuing CA's status, which LTA needs too
    return ValidationMaterial(ocsps, crls, [*end_entities, issuing, ca.ocsp_certificate()])


def signing_context(root: x509.Certificate, material: ValidationMaterial) -> ValidationContext:
    """pyHanko's context for B-LT/B-LTA signing: our root only, our revocation data only, no network."""
    return ValidationContext(
        trust_roots=[root],
        other_certs=material.certificates,
        ocsps=material.ocsps,
        crls=material.crls,
        allow_fetching=False,
        revocation_mode="hard-fail",
    )


# id-aa-ets-revocationValues (ETSI TS 101 733, EN 319 122-1): an unsigned attribute asn1crypto lacks.
REVOCATION_VALUES_OID = "1.2.840.113549.1.9.16.2.24"


class _CrlValues(core.SequenceOf):  # type: ignore[misc]
    _child_spec = crl.CertificateList


class _OcspValues(core.SequenceOf):  # type: ignore[misc]
    _child_spec = ocsp.BasicOCSPResponse


class RevocationValues(core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012 - asn1crypto's way of declaring a structure
        ("crl_vals", _CrlValues, {"explicit": 0, "optional": True}),
        ("ocsp_vals", _OcspValues, {"explicit": 1, "optional": True}),
    ]


# Known to asn1crypto from here on (as pyHanko registers its CAdES attributes), so that a SignerInfo
# carrying it parses whole, by us and by pyHanko alike.
register_cms_attribute(REVOCATION_VALUES_OID, "revocation_values", RevocationValues)

"""Offline checks of signatures (`tillit-signer verify`) over ETSI EN 319 102-1, with pyHanko.

`verify_pdf` and `verify_cms` run pyHanko's validation (`pyhanko.sign.validation.ades`) with the
given root as the only trust anchor and no fetching, at now or at a given date: PAdES with the
long-term (LTA) process over the document timestamps and the DSS; detached CMS with the
validation-with-time process, the revocation data taken from the SignerInfo's revocation-values
unsigned attribute (CAdES, `tillit.signer.longterm`), where Tillit puts it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import cms, crl, ocsp, x509
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESPassed
from pyhanko.sign.validation import ades
from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.policy_decl import (
    CertificateFetchingRule,
    LocalKnowledge,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator.authority import CertTrustAnchor
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    NonRevokedStatusAssertion,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.revinfo.archival import CRLContainer, OCSPContainer

from tillit.signer.longterm import REVOCATION_VALUES_OID, RevocationValues, ValidationMaterial


class VerifyInputError(Exception):
    """The input cannot be checked at all (not a signed PDF or CMS, no content...); one line why."""


@dataclass(frozen=True)
class Verdict:
    """What `tillit-signer verify` says about one signature."""

    level: str  # B-B, B-T, B-LT or B-LTA
    signer: str
    signing_time: datetime | None
    indication: str  # PASSED, FAILED or INDETERMINATE
    subindication: str
    reason: str

    @property
    def passed(self) -> bool:
        return self.indication == "PASSED"

    def as_dict(self) -> dict[str, str | None]:
        return {
            "level": self.level,
            "signer": self.signer,
            "signingTime": self.signing_time.isoformat() if self.signing_time else None,
            "indication": self.indication,
            "subindication": self.subindication,
            "reason": self.reason,
        }


# Revocation data is required for the signer's and the TSA's certificates, and for a CA's
# certificate when it says where its status is published (a CRL distribution point or OCSP).
_REVOCATION_POLICY = CertRevTrustPolicy(
    RevocationCheckingPolicy(
        ee_certificate_rule=RevocationCheckingRule.CRL_OR_OCSP_REQUIRED,
        intermediate_ca_cert_rule=RevocationCheckingRule.CHECK_IF_DECLARED,
    )
)


def _spec(root: x509.Certificate, knowledge: LocalKnowledge | None = None) -> SignatureValidationSpec:
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build([CertTrustAnchor(root)]),
        revinfo_policy=_REVOCATION_POLICY,
    )
    return SignatureValidationSpec(
        cert_validation_policy=policy,
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY,
            certificate_fetching_rule=CertificateFetchingRule.NEVER_FETCH,
        ),
        local_knowledge=knowledge or LocalKnowledge(),
    )


def _timing(at: datetime | None) -> ValidationTimingInfo:
    if at is None:
        return ValidationTimingInfo.now(tz=UTC)
    return ValidationTimingInfo(validation_time=at, best_signature_time=at, point_in_time_validation=True)


def _indication(subindication: object) -> str:
    if isinstance(subindication, AdESPassed):
        return "PASSED"
    if isinstance(subindication, AdESFailure):
        return "FAILED"
    if isinstance(subindication, AdESIndeterminate):
        return "INDETERMINATE"
    return "FAILED"


def _verdict(level: str, cert: x509.Certificate | None, result: ades.AdESWithTimeValidationResult) -> Verdict:
    subindication = result.ades_subindic
    indication = _indication(subindication)
    reason = result.failure_msg or ""
    if not reason and indication != "PASSED":
        reason = str(getattr(subindication, "name", subindication)).replace("_", " ").lower()
    signing_time = result.best_signature_time if indication == "PASSED" else None
    if signing_time is None and result.api_status is not None:
        signing_time = getattr(result.api_status, "signer_reported_dt", None)
    return Verdict(
        level=level,
        signer=cert.subject.human_friendly if cert is not None else "",
        signing_time=signing_time,
        indication=indication,
        subindication=str(getattr(subindication, "name", subindication)),
        reason=reason,
    )


def pdf_level(reader: PdfFileReader, signature: EmbeddedPdfSignature) -> str:
    """B-LTA: a document timestamp after the signature; B-LT: a DSS; B-T: a signature timestamp."""
    has_signature_timestamp = signature.sig_object_type == "/Sig" and any(
        True for _ in _signature_timestamps(signature.signer_info)
    )
    if not has_signature_timestamp:
        return "B-B"
    try:
        DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return "B-T"
    later = [ts for ts in reader.embedded_timestamp_signatures if ts.signed_revision > signature.signed_revision]
    return "B-LTA" if later else "B-LT"


def _signature_timestamps(signer_info: cms.SignerInfo) -> list[cms.ContentInfo]:
    found = []
    for attribute in signer_info["unsigned_attrs"] or []:
        if attribute["type"].native == "signature_time_stamp_token":
            found.extend(attribute["values"])
    return found


# Today's status of certificates, from the local CA in-process (OCSP responses and CRLs).
FreshStatus = Callable[[list[x509.Certificate]], ValidationMaterial]


def _knowledge(material: ValidationMaterial | None) -> LocalKnowledge:
    if material is None:
        return LocalKnowledge()
    return LocalKnowledge(
        known_ocsps=[c for o in material.ocsps for c in OCSPContainer.load_multi(ocsp.OCSPResponse.load(o))],
        known_crls=[CRLContainer(crl.CertificateList.load(c)) for c in material.crls],
        known_certs=material.certificates,
    )


def _to_come(at: datetime | None) -> bool:
    return at is not None and at > datetime.now(UTC)


def verify_pdf(
    data: bytes, root: x509.Certificate, at: datetime | None = None, fresh: FreshStatus | None = None
) -> list[Verdict]:
    """Every signature of a PDF (not its document timestamps), each with EN 319 102-1's LTA process:
    at now or a past `at` as it stands (`ades_lta_validation`); at an `at` still to come with
    pyHanko's simulation of that validation, which presumes the archive renews the document
    timestamps until then (`simulate_future_ades_lta_validation`: the newest timestamp's
    certificate, and here the CAs under the root that the timestamps carry, are taken as not
    revoked then, since no status from the future exists). `fresh`
    adds today's status of the signer's and the TSA's certificates (the local CA's) to a
    validation now or at a past date."""
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = reader.embedded_regular_signatures
        timestamps = reader.embedded_timestamp_signatures
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as e:
        raise VerifyInputError("not a readable PDF") from e
    if not signatures:
        raise VerifyInputError("the PDF has no signature")
    certs = [s.signer_cert for s in signatures] + [t.signer_cert for t in timestamps]
    for signature in signatures:
        for token in _signature_timestamps(signature.signer_info):
            certs.extend(_token_signer(token))
    # Today's status only for a validation now or in the past: a date to come is pyHanko's simulation
    # over the document's own material, as an archive would have kept it.
    today = fresh(certs) if fresh and not _to_come(at) else None
    knowledge = _knowledge(today)
    if at is not None and _to_come(at):
        # As for a CMS below: the CAs under the root that certify the document timestamps are taken
        # as not revoked at `at`, as pyHanko takes the newest timestamp's own certificate. Their
        # certificates must still be valid then, so a CA that ends before `at` fails as it should.
        authorities = [c for t in timestamps for c in _carried(t.signed_data) if c.ca and c.self_signed == "no"]
        knowledge = dataclasses.replace(
            knowledge, nonrevoked_assertions=[NonRevokedStatusAssertion(c.sha256, at=at) for c in authorities]
        )
    spec = PdfSignatureValidationSpec(_spec(root, knowledge))

    async def run() -> list[Verdict]:
        verdicts = []
        for signature in signatures:
            if at is not None and _to_come(at):
                result = await ades.simulate_future_ades_lta_validation(signature, spec, at)
            else:
                result = await ades.ades_lta_validation(signature, spec, timing_info=_timing(at))
            verdicts.append(_verdict(pdf_level(reader, signature), signature.signer_cert, result))
        return verdicts

    try:
        return asyncio.run(run())
    except PdfError as e:  # a part the validation reads is damaged (a byte changed in a stream, say)
        raise VerifyInputError(f"not a readable PDF: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from e


def _carried(signed_data: cms.SignedData) -> list[x509.Certificate]:
    """The certificates a SignedData carries."""
    return [c.chosen for c in signed_data["certificates"] or [] if c.name == "certificate"]


def _token_signer(token: cms.ContentInfo) -> list[x509.Certificate]:
    """The signer's certificate of a timestamp token, when the token carries it."""
    signed = token["content"]
    sid = signed["signer_infos"][0]["sid"].chosen
    return [c for c in _carried(signed) if c.issuer == sid["issuer"] and c.serial_number == sid["serial_number"].native]


def cms_level(signed_data: cms.SignedData) -> str:
    """B-LT: revocation values and a signature timestamp; B-T: a signature timestamp; else B-B."""
    signer_info = signed_data["signer_infos"][0]
    if not _signature_timestamps(signer_info):
        return "B-B"
    return "B-LT" if _revocation_values(signer_info) else "B-T"


def _revocation_values(signer_info: cms.SignerInfo) -> list[RevocationValues]:
    found: list[RevocationValues] = []
    for attribute in signer_info["unsigned_attrs"] or []:
        if attribute["type"].dotted == REVOCATION_VALUES_OID:
            found.extend(attribute["values"])
    return found


def _cms_knowledge(signed_data: cms.SignedData) -> LocalKnowledge:
    """The CRLs and OCSP responses a SignerInfo carries in its revocation values."""
    crls: list[CRLContainer] = []
    ocsps: list[OCSPContainer] = []
    for values in _revocation_values(signed_data["signer_infos"][0]):
        crls.extend(CRLContainer(c) for c in values["crl_vals"] or [])
        for basic in values["ocsp_vals"] or []:
            response = ocsp.OCSPResponse(
                {
                    "response_status": "successful",
                    "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
                }
            )
            ocsps.extend(OCSPContainer.load_multi(response))
    certs = _carried(signed_data)
    for token in _signature_timestamps(signed_data["signer_infos"][0]):
        certs.extend(_carried(token["content"]))
    return LocalKnowledge(known_ocsps=ocsps, known_crls=crls, known_certs=certs)


def verify_cms(
    data: bytes, content: bytes, root: x509.Certificate, at: datetime | None = None, fresh: FreshStatus | None = None
) -> Verdict:
    """A detached CMS signature over `content`, with EN 319 102-1's validation with time (5.5): the
    signature timestamp is the proof that the signature existed before a revocation or expiry.
    At an `at` still to come, as pyHanko simulates it for a PDF: everything the signature carries
    is known to exist today, and the TSA's certificate and the CAs under the root are taken as not
    revoked then. Now or at a past date, `fresh` adds today's status from the local CA."""
    try:
        info = cms.ContentInfo.load(data, strict=True)
        if info["content_type"].native != "signed_data":
            raise VerifyInputError("not a CMS SignedData")
        signed_data = info["content"]
        signer_info = signed_data["signer_infos"][0]
        _ = signed_data.native
    except VerifyInputError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as e:
        raise VerifyInputError("not a DER CMS signature") from e
    if signed_data["encap_content_info"]["content"].native is not None:
        raise VerifyInputError("not a detached signature (it carries its content)")
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    if digest_name not in ("sha256", "sha384", "sha512"):
        raise VerifyInputError(f"unsupported digest algorithm {digest_name}")
    digest = hashlib.new(digest_name, content).digest()
    certs = _carried(signed_data)
    sid = signer_info["sid"].chosen
    signer_cert = next(
        (c for c in certs if c.issuer == sid["issuer"] and c.serial_number == sid["serial_number"].native), None
    )
    tsa_certs = [c for token in _signature_timestamps(signer_info) for c in _token_signer(token)]
    carried = _cms_knowledge(signed_data)
    ours = [*([signer_cert] if signer_cert else []), *tsa_certs]
    today = _knowledge(fresh(ours) if fresh and not _to_come(at) else None)  # as for a PDF
    knowledge = LocalKnowledge(
        known_ocsps=carried.known_ocsps + today.known_ocsps,
        known_crls=carried.known_crls + today.known_crls,
        known_certs=carried.known_certs + today.known_certs,
    )
    if at is not None and _to_come(at):
        # No status from the future exists: the TSA's certificate and the CAs under the root are
        # taken as not revoked at `at` (a CMS has no archive timestamps to renew: it stays valid as
        # long as those are not revoked, which is what this assumes).
        now = datetime.now(UTC)
        authorities = [c for c in knowledge.known_certs if c.ca and c.self_signed == "no"]
        knowledge = dataclasses.replace(
            knowledge,
            known_poes=list(knowledge.assert_existence_known_at(now)),
            nonrevoked_assertions=[NonRevokedStatusAssertion(c.sha256, at=at) for c in [*tsa_certs, *authorities]],
        )
    spec = _spec(root, knowledge)

    async def run() -> Verdict:
        timing = _timing(at)
        result = await ades.ades_with_time_validation(signed_data, spec, timing_info=timing, raw_digest=digest)
        verdict = _verdict(cms_level(signed_data), signer_cert, result)
        ended = [c.not_valid_after for c in tsa_certs if at is not None and c.not_valid_after < at]
        if ended and not verdict.passed:
            # pyHanko says only that no chain was found; the archivist needs the cause.
            reason = (
                f"the certificate of its timestamp authority ended {min(ended):%Y-%m-%d}, before {at:%Y-%m-%d},"
                f" and a .p7s cannot be renewed ({verdict.reason})"
            )
            verdict = dataclasses.replace(verdict, reason=reason)
        return verdict

    return asyncio.run(run())

"""Signing an order's documents with the customer's HSM key: PAdES for PDFs, detached CMS otherwise.

The stored bytes are hashed again right before the HSM is asked, and compared with the digest the
phone approved; any difference fails the order without a signature.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from asn1crypto import algos, cms, core, ocsp, x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import SigFieldSpec
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, TimestampDSSContentSettings
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from tillit import der
from tillit.hsm.client import Hsm
from tillit.hsm.errors import HsmError, TokenUnavailable
from tillit.signer import errors
from tillit.signer.longterm import REVOCATION_VALUES_OID, ValidationMaterial, signing_context, validation_material
from tillit.signer.pdf_render_check import RenderCheckUnavailable, check_rendering
from tillit.signer.pdfcheck import (
    HostilePdf,
    inspect_layout,
    inspect_page_content,
    inspect_pdf,
    inspect_revisions,
    looks_like_pdf,
)
from tillit.signer.receipts import receipt_claims
from tillit.signer.service import verify_device_signature
from tillit.signer.store import Device
from tillit.signer.tsa import InProcessTimeStamper, TimestampAuthority
from tillit.signer.wire import approval_message

if TYPE_CHECKING:
    from tillit.signer.service import NewDocument, Signer


def is_pdf(content_type: str, content: bytes) -> bool:
    """Sniffed from the bytes and the content type together (`looks_like_pdf`): any document a viewer
    could open as a PDF is checked, and signed, as one."""
    return looks_like_pdf(content_type, content)


class HsmCmsSigner(signers.Signer):  # type: ignore[misc]
    """A pyHanko signer whose private key operation happens in the HSM (hash on the host)."""

    def __init__(self, hsm: Hsm, key_label: str, certificate: x509.Certificate, chain: list[x509.Certificate]) -> None:
        super().__init__(
            signing_cert=certificate,
            cert_registry=SimpleCertificateStore.from_certs(chain),
            signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
            embed_roots=True,
        )
        self.hsm = hsm
        self.key_label = key_label
        self.chain = chain

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if dry_run:
            return bytes(72)  # the longest DER ECDSA P-256 signature
        if digest_algorithm != "sha256":
            raise errors.SignerError(f"unsupported digest {digest_algorithm}")
        return self.hsm.sign_digest(self.key_label, hashlib.sha256(data).digest())


def check_pdf(content: bytes, name: str) -> None:
    """Refuse (`errors.InvalidInput`, with the reason) a PDF whose pages may not show what the kiosk
    shows the customer, or that is hostile otherwise: signer/pdfcheck.py's exact checks first (cheap),
    then the rendering compared with the text (signer/pdf_render_check.py, cached by SHA-256)."""
    try:
        inspect_layout(content)
        reader = PdfFileReader(io.BytesIO(content), strict=False)
        if reader.encrypted:
            raise errors.InvalidInput(f"document '{name}' is an encrypted PDF, which cannot be signed")
        inspect_pdf(reader)
        inspect_revisions(reader)
        inspect_page_content(content)
        check_rendering(content, hashlib.sha256(content).hexdigest())
    except errors.SignerError:
        raise
    except RenderCheckUnavailable as e:
        raise errors.Unavailable(f"document '{name}' cannot be checked now: {e}") from None
    except HostilePdf as e:
        raise errors.InvalidInput(f"document '{name}' is a PDF that cannot be signed: {e}") from None
    except (PdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as e:
        raise errors.InvalidInput(f"document '{name}' is not a readable PDF ({type(e).__name__})") from None


def _signature_field(reader: PdfFileReader) -> str | None:
    """The document's own empty signature field, if it has one."""
    try:
        for name, value, _ in fields.enumerate_sig_fields(reader, filled_status=False):
            del value
            return str(name)
    except (PdfError, KeyError, TypeError):
        return None
    return None


def _unavailable(e: BaseException) -> TokenUnavailable | None:
    """The `TokenUnavailable` somewhere in an exception's chain, if any."""
    seen: set[int] = set()
    current: BaseException | None = e
    while current is not None and id(current) not in seen:
        if isinstance(current, TokenUnavailable):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _approved(device: Device | None, approval: str | None, challenge: dict[str, Any]) -> bool:
    """The device's stored approval verifies over this challenge."""
    if device is None or approval is None:
        return False
    message = approval_message(challenge, "approve")
    return verify_device_signature(device.public_key, base64.b64decode(approval), message)


# The DSS written before the document timestamp, not after it (pyHanko's default adds a revision
# after it): the timestamp then covers the whole file, and viewers (poppler's pdfsig) say so. Without
# VRI dictionaries, which PAdES no longer asks for; the TSA's revocation data is in the DSS already.
WHOLE_FILE_TIMESTAMPED = DSSContentSettings(
    include_vri=False,
    next_ts_settings=TimestampDSSContentSettings(include_vri=False, update_before_ts=True),
)

# The levels whose signatures carry the chain's revocation data (in the DSS, or in a CMS's `crls`).
_LONG_TERM_LEVELS = ("B-LT", "B-LTA")


class DocumentSigner:
    def __init__(self, service: Signer) -> None:
        self.service = service
        settings = service.settings
        self.tsa = TimestampAuthority(
            service.hsm, service.ca, policy=settings.tsa_policy_oid, accuracy_seconds=settings.tsa_accuracy_seconds
        )
        # Shared by every signing: pyHanko keeps the TSA's certificates here after the first token.
        self.timestamper = InProcessTimeStamper(self.tsa)

    def check_inputs(self, documents: list[NewDocument]) -> None:
        for doc in documents:
            if is_pdf(doc.content_type, doc.content):
                check_pdf(doc.content, doc.name)

    def _certificate(self, key_label: str) -> bytes:
        der = self.service.hsm.certificate(key_label)
        if der is None:
            raise errors.Conflict("the customer has no certificate")
        return der

    def _cms_signer(self, key_label: str) -> HsmCmsSigner:
        """pyHanko's signer over the HSM key, for PAdES (detached CMS needs none: `detached_cms`)."""
        certificate = x509.Certificate.load(self._certificate(key_label))
        return HsmCmsSigner(self.service.hsm, key_label, certificate, self.service.ca.chain())

    def sign_order(self, ref: str) -> None:
        """Sign every document of an order in state `signing`, then complete it (or fail it)."""
        service = self.service
        with service.store.read() as tx:
            order = tx.order(ref)
            if order is None or order.status != "signing" or order.customer_id is None:
                return
            customer = tx.customer(order.customer_id)
            documents = tx.documents(ref)
            kiosk = tx.kiosk(order.kiosk_id)
            device = tx.device(order.device_id) if order.device_id else None
            # The challenge as it would read over the bytes about to be signed, digests recomputed
            # now: the phone's approval must verify over exactly that, or the HSM is not asked.
            now_digests = [(doc.name, hashlib.sha256(doc.content).hexdigest()) for doc in documents]
            challenge = service.challenge(tx, order, now_digests)
        assert customer is not None
        failure: str | None = None
        changed = [doc.idx for doc, (_, digest) in zip(documents, now_digests, strict=True) if digest != doc.sha256]
        if changed:
            failure = f"document {changed[0]} changed after approval"
        elif not _approved(device, order.approval, challenge):
            failure = "the documents are not those the phone approved"
        if failure is None and service.certificate_revoked(customer):
            failure = "the customer has no valid certificate (revoked)"
        if customer.status != "active":
            failure = "customer is not active"
        signed: list[tuple[int, bytes, str]] = []
        if failure is None:
            try:
                certificate, chain = self._certificate(customer.key_label), service.ca.chain()
                material = self._validation_material(certificate)  # once an order: one OCSP signature
                pdf_signer: HsmCmsSigner | None = None  # made only for a PDF: ~0.1 ms of CPU an order
                for doc in documents:
                    if is_pdf(doc.content_type, doc.content):
                        pdf_signer = pdf_signer or self._cms_signer(customer.key_label)
                        output = self._pades(pdf_signer, doc.content, customer.name, order.reference, material)
                        signed.append((doc.idx, output, "pades"))
                    else:
                        output = self._cms(customer.key_label, certificate, chain, doc.content, material)
                        signed.append((doc.idx, output, "cms"))
            except TokenUnavailable:
                # The HSM is away: nothing was signed or released. The caller puts the order back
                # to 'approved' (Signer.submit_password) and answers 503; the password can be
                # sent again once the token is back.
                raise
            except Exception as e:  # any failure of the signing libraries ends the order cleanly
                cause = _unavailable(e)
                if cause is not None:  # wrapped by pyHanko on its way out
                    raise cause from e
                known = isinstance(e, HsmError | errors.SignerError | PdfError | ValueError)
                failure = f"signing failed: {e}" if known else f"signing failed: {type(e).__name__}"
        at = service.clock()
        with service.store.tx() as tx:
            if failure is not None:
                tx.transition(ref, ["signing"], "failed", "signingFailed", completed_at=at)
                tx.audit("signature.refused", ref, at, why=failure)
                tx.audit("order.failed", ref, at, hint="signingFailed")
                return
            order = tx.order(ref)
            assert order is not None
            if order.status != "signing":
                # Blocked or otherwise ended while the HSM worked: the signatures are not released.
                tx.audit("signature.discarded", ref, at, why=order.hint_code)
                return
            summary = [
                {
                    "index": doc.idx,
                    "name": doc.name,
                    "sha256": doc.sha256,
                    "format": kind,
                    "path": f"/v1/orders/{ref}/documents/{doc.idx}",
                }
                for (_, _, kind), doc in zip(signed, documents, strict=True)
            ]
            completion = service._completion(tx, order, customer, level="high", signatures=summary)
            if not tx.transition(
                ref,
                ["signing"],
                "complete",
                "complete",
                completed_at=at,
                completion=completion,
                level="high",
                signatures=len(signed),
            ):
                raise AssertionError("order left 'signing' inside its own transaction")
            for (idx, output, kind), doc in zip(signed, documents, strict=True):
                tx.set_signed_document(ref, idx, output)
                tx.audit(
                    "signature.created",
                    ref,
                    at,
                    document=idx,
                    sha256=doc.sha256,
                    signed_sha256=hashlib.sha256(output).hexdigest(),
                    format=kind,
                )
            # Signed by the service key (signer/receipts.py), in this transaction as the completion token is.
            claims = receipt_claims(
                order, customer, kiosk, device, challenge, summary, {idx: out for idx, out, _ in signed}, at
            )
            tx.insert_receipt(ref, customer.id, at, service.tokens.sign_receipt(claims, at))
            if order.agreement_id:
                tx.mark_agreement_signed(order.agreement_id, ref, at)
            tx.audit("order.completed", ref, at, level="high", signatures=len(signed))

    def _validation_material(self, certificate: bytes) -> ValidationMaterial | None:
        """At B-LT and B-LTA: OCSP responses for the customer's and the TSA's certificates and the
        chain's CRLs, made in-process (no network); else None."""
        service = self.service
        if service.settings.pades_level not in _LONG_TERM_LEVELS:
            return None
        customer = x509.Certificate.load(certificate)
        return validation_material(
            service.ca, [customer, self.tsa.certificate()], service.current_crl(), service.settings.ocsp_cache_seconds
        )

    def _pades(
        self, signer: HsmCmsSigner, content: bytes, name: str, reference: str, material: ValidationMaterial | None
    ) -> bytes:
        """PAdES at the `pades_level` setting: B-B; B-T with a signature timestamp from our TSA; B-LT
        with the chain's certificates and revocation data in the DSS; B-LTA with a document
        timestamp over it all. pyHanko builds every PDF and CMS structure."""
        writer = IncrementalPdfFileWriter(io.BytesIO(content), strict=False)
        field_name = _signature_field(writer.prev) or "TillitSignatur"
        new_field = None
        if field_name == "TillitSignatur":
            new_field = SigFieldSpec(sig_field_name=field_name, on_page=-1, box=(36, 36, 306, 110))
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        style = TextStampStyle(
            stamp_text=f"Signert med Tillit BankID\n{name}\n{when}\nReferanse: {reference}",
        )
        level = self.service.settings.pades_level
        metadata = signers.PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            name=name,
            reason="Avtale signert",
            embed_validation_info=material is not None,
            use_pades_lta=level == "B-LTA",
            validation_context=signing_context(self.service.ca.root_certificate(), material) if material else None,
            dss_settings=WHOLE_FILE_TIMESTAMPED,
        )
        pdf_signer = signers.PdfSigner(
            metadata,
            signer=signer,
            timestamper=self.timestamper if level != "B-B" else None,
            stamp_style=style,
            new_field_spec=new_field,
        )
        out = io.BytesIO()

        async def run() -> None:
            await pdf_signer.async_sign_pdf(writer, output=out)

        asyncio.run(run())
        return out.getvalue()

    def _cms(
        self,
        key_label: str,
        certificate: bytes,
        chain: list[x509.Certificate],
        content: bytes,
        material: ValidationMaterial | None,
    ) -> bytes:
        """Detached CMS: CAdES-BES at B-B; CAdES-T (a signature timestamp from our TSA) at every
        other level; from B-LT on, the chain's OCSP responses and CRLs in its revocation values."""
        hsm = self.service.hsm
        timestamped = self.service.settings.pades_level != "B-B"
        return detached_cms(
            lambda digest: hsm.sign_digest(key_label, digest),
            certificate,
            chain,
            content,
            timestamp=self.tsa.signature_timestamp if timestamped else None,
            revocation=material,
        )


# Detached CMS (CAdES-BES) signatures: the same SignedData and signed attributes as pyHanko's
# `async_sign_general_data` (content type, CMS algorithm protection, signing time, message digest,
# ESS signing-certificate-v2). Every part that does not change from one signature to the next is
# encoded once by asn1crypto (the constant attributes and algorithm identifiers, and per certificate
# its signing-certificate-v2 attribute, its issuer-and-serial and the certificate set); a signature
# then only joins DER around its signing time, digest and signature value. Built afresh with
# asn1crypto, the structure costs ~1 ms of CPU a signature, and pyHanko's whole CMS ~15 ms: more than
# Argon2's share of a sign order. `openssl cms -verify` checks the result in the tests.
_SHA256 = algos.DigestAlgorithm({"algorithm": "sha256"}).dump()
_ECDSA_SHA256 = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}).dump()
_CONTENT_TYPE_DATA = cms.CMSAttribute({"type": "content_type", "values": ["data"]}).dump()
_ALGORITHM_PROTECTION = cms.CMSAttribute(
    {
        "type": "cms_algorithm_protection",
        "values": [
            {
                "digest_algorithm": algos.DigestAlgorithm.load(_SHA256),
                "signature_algorithm": algos.SignedDigestAlgorithm.load(_ECDSA_SHA256),
            }
        ],
    }
).dump()
_OID_SIGNING_TIME = cms.CMSAttributeType("signing_time").dump()
_OID_MESSAGE_DIGEST = cms.CMSAttributeType("message_digest").dump()
_OID_DATA = cms.ContentType("data").dump()
_OID_SIGNED_DATA = cms.ContentType("signed_data").dump()
_VERSION_1 = b"\x02\x01\x01"
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
) -> bytes:
    """A detached CMS SignedData over `content` by the ECDSA P-256 key of `cert_der`, with the
    certificate and its chain; `sign_digest` signs the SHA-256 of the DER signed attributes.

    With `timestamp` (the signature value in, a DER timestamp token out) the SignerInfo gets the
    signature-time-stamp unsigned attribute (CAdES-T); with `revocation` its CRLs and OCSP responses
    go into the revocation-values unsigned attribute (ETSI TS 101 733 / EN 319 122-1)."""
    parts = _signer_parts(cert_der, tuple(bytes(c.dump()) for c in chain))
    when = now or datetime.now(UTC)  # RFC 5652: signing-time is UTCTime, so 1950 to 2049 only
    signing_time = der.element(der.SEQUENCE, _OID_SIGNING_TIME + der.element(der.SET, der.utc_time(when)))
    content_digest = der.element(der.OCTET_STRING, hashlib.sha256(content).digest())
    digest = der.element(der.SEQUENCE, _OID_MESSAGE_DIGEST + der.element(der.SET, content_digest))
    attributes = b"".join(
        sorted((_CONTENT_TYPE_DATA, _ALGORITHM_PROTECTION, signing_time, digest, parts.signing_certificate_v2))
    )
    # The signature covers the attributes as a SET OF; the SignerInfo carries them [0] IMPLICIT.
    signature = sign_digest(hashlib.sha256(der.element(der.SET, attributes)).digest())
    signer_info = der.element(
        der.SEQUENCE,
        _VERSION_1
        + parts.issuer_and_serial
        + _SHA256
        + der.context(0, attributes)
        + _ECDSA_SHA256
        + der.element(der.OCTET_STRING, signature)
        + _unsigned_attributes(timestamp(signature) if timestamp else None, revocation),
    )
    signed_data = der.element(
        der.SEQUENCE,
        _VERSION_1
        + der.element(der.SET, _SHA256)
        + der.element(der.SEQUENCE, _OID_DATA)
        + parts.certificates
        + der.element(der.SET, signer_info),
    )
    return der.element(der.SEQUENCE, _OID_SIGNED_DATA + der.context(0, signed_data))

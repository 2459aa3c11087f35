"""Signing an order's documents with the customer's HSM key: PAdES for PDFs, detached CMS otherwise.

The stored bytes are hashed again right before the HSM is asked, and compared with the digest the
phone approved; any difference fails the order without a signature.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import logging
from datetime import UTC, datetime
from typing import Any

from asn1crypto import algos, tsp, x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import SigFieldSpec
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, TimestampDSSContentSettings
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from tillit.hsm.errors import HsmError, Unavailable
from tillit.signer import errors
from tillit.signer.context import KeyStore, SignerContext
from tillit.signer.customers.keys import certificate_revoked
from tillit.signer.device_keys import verify_device_signature
from tillit.signer.document_checks import is_pdf
from tillit.signer.longterm import ValidationMaterial, signing_context, validation_material
from tillit.signer.orders.challenge import challenge
from tillit.signer.orders.cms import detached_cms
from tillit.signer.orders.completion import completion_data
from tillit.signer.receipts import receipt_claims
from tillit.signer.states import HintCode, OrderStatus
from tillit.signer.store.records import Device
from tillit.signer.tsa import TimestampAuthority, TimestampRejected
from tillit.signer.wire import approval_message

log = logging.getLogger("tillit.signer")


class _OwnRevocationData(logging.Filter):
    """Drops pyHanko's warning that revocation data will be embedded although fetching is off. The
    daemon makes that data itself (its own OCSP answers and CRLs, `longterm.validation_material`)
    and never fetches by design, so the warning came with every PDF signed and said nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "fetching is not allowed" not in record.getMessage()


logging.getLogger("pyhanko.sign.signers.pdf_signer").addFilter(_OwnRevocationData())


class InProcessTimeStamper(TimeStamper):  # type: ignore[misc]
    """pyHanko's timestamper over the daemon's own TSA: no HTTP, no network."""

    def __init__(self, authority: TimestampAuthority) -> None:
        super().__init__(include_nonce=True)
        self.authority = authority

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        try:
            return self.authority.respond(req)
        except TimestampRejected as e:  # pyHanko's own requests are well formed: never seen in practice
            raise TimestampRequestError(f"the TSA refused: {e.reason}") from e


class HsmCmsSigner(signers.Signer):  # type: ignore[misc]
    """A pyHanko signer whose private key operation happens in the HSM (hash on the host)."""

    def __init__(
        self, keys: KeyStore, key_label: str, certificate: x509.Certificate, chain: list[x509.Certificate]
    ) -> None:
        super().__init__(
            signing_cert=certificate,
            cert_registry=SimpleCertificateStore.from_certs(chain),
            signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
            embed_roots=True,
        )
        self.keys = keys
        self.key_label = key_label
        self.chain = chain

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if dry_run:
            return bytes(72)  # the longest DER ECDSA P-256 signature
        if digest_algorithm != "sha256":
            raise errors.SignerError(f"unsupported digest {digest_algorithm}")
        return self.keys.sign_digest(self.key_label, hashlib.sha256(data).digest())


def _signature_field(reader: PdfFileReader) -> str | None:
    """The document's own empty signature field, if it has one."""
    try:
        for name, value, _ in fields.enumerate_sig_fields(reader, filled_status=False):
            del value
            return str(name)
    except (PdfError, KeyError, TypeError):
        return None
    return None


def _unavailable(e: BaseException) -> Unavailable | None:
    """The HSM layer's `Unavailable` (token or CA ledger away) somewhere in an exception's chain."""
    seen: set[int] = set()
    current: BaseException | None = e
    while current is not None and id(current) not in seen:
        if isinstance(current, Unavailable):
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
    """Signs the documents of orders in state `signing` with the customer's key."""

    def __init__(self, context: SignerContext) -> None:
        self.context = context
        self.tsa = context.tsa
        # Shared by every signing: pyHanko keeps the TSA's certificates here after the first token.
        self.timestamper = InProcessTimeStamper(self.tsa)

    def _certificate(self, key_label: str) -> bytes:
        der = self.context.keys.certificate(key_label)
        if der is None:
            raise errors.Conflict("the customer has no certificate")
        return der

    def _cms_signer(self, key_label: str) -> HsmCmsSigner:
        """pyHanko's signer over the HSM key, for PAdES (detached CMS needs none: `detached_cms`)."""
        certificate = x509.Certificate.load(self._certificate(key_label))
        return HsmCmsSigner(self.context.keys, key_label, certificate, self.context.ca.chain())

    def sign_order(self, ref: str) -> None:
        """Sign every document of an order in state `signing`, then complete it (or fail it)."""
        context = self.context
        with context.store.read() as tx:
            order = tx.order(ref)
            if order is None or order.status != OrderStatus.SIGNING or order.customer_id is None:
                return
            customer = tx.customer(order.customer_id)
            documents = tx.documents(ref)
            kiosk = tx.kiosk(order.kiosk_id)
            device = tx.device(order.device_id) if order.device_id else None
            # The challenge as it would read over the bytes about to be signed, digests recomputed
            # now: the phone's approval must verify over exactly that, or the HSM is not asked.
            now_digests = [(doc.name, hashlib.sha256(doc.content).hexdigest()) for doc in documents]
            approved_challenge = challenge(tx, order, now_digests)
        assert customer is not None
        failure: str | None = None
        changed = [doc.idx for doc, (_, digest) in zip(documents, now_digests, strict=True) if digest != doc.sha256]
        if changed:
            failure = f"document {changed[0]} changed after approval"
        elif (refusal := context.seals.signing_refusal(order, customer, device)) is not None:
            failure = refusal
        elif not _approved(device, order.approval, approved_challenge):
            failure = "the documents are not those the phone approved"
        if failure is None and certificate_revoked(context.ca, customer):
            failure = "the customer has no valid certificate (revoked)"
        if customer.status != "active":
            failure = "customer is not active"
        signed: list[tuple[int, bytes, str]] = []
        if failure is None:
            try:
                certificate, chain = self._certificate(customer.key_label), context.ca.chain()
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
            except Unavailable:
                # The HSM or the CA ledger's database is away: nothing was signed or released. The
                # caller puts the order back to 'approved' (Signer.submit_password) and answers 503;
                # the password can be sent again once it is back (a database failover, say).
                raise
            except Exception as e:  # any failure of the signing libraries ends the order cleanly
                cause = _unavailable(e)
                if cause is not None:  # wrapped by pyHanko on its way out
                    raise cause from e
                known = isinstance(e, HsmError | errors.SignerError | PdfError | ValueError | TimestampRejected)
                failure = f"signing failed: {e}" if known else f"signing failed: {type(e).__name__}"
        at = context.clock()
        completion: str | None = None
        receipt: str | None = None
        if failure is None:
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
            # The completion token and the receipt (two HSM signatures over what was read and signed
            # above) are made before the writer's lock is taken, as a login's token is, so that the
            # store's other writers do not wait on the HSM, however far away it is. They are
            # released only if the transaction below completes the order.
            completion = completion_data(context, order, customer, device, level="high", signatures=summary)
            claims = receipt_claims(
                order, customer, kiosk, device, approved_challenge, summary, {idx: out for idx, out, _ in signed}, at
            )
            receipt = context.tokens.sign_receipt(claims, at)
        with context.store.tx() as tx:
            order = tx.order(ref)
            assert order is not None
            if order.status == OrderStatus.SIGNING and order.runner not in (None, context.instance):
                # Another instance took the order over while this one worked (its lease ran out: this
                # process was frozen, say). The order is that instance's to sign and to end.
                tx.audit("signature.discarded", ref, at, why="taken over", runner=order.runner)
                return
            if failure is not None:
                log.warning(
                    "order %s not signed (signingFailed): %s", ref, failure, extra={"tillit_event": "signature.refused"}
                )
                tx.audit("signature.refused", ref, at, why=failure)
                tx.fail_order(ref, [OrderStatus.SIGNING], HintCode.SIGNING_FAILED, at)
                return
            if order.status != OrderStatus.SIGNING:
                # Blocked or otherwise ended while the HSM worked: the signatures are not released.
                tx.audit("signature.discarded", ref, at, why=order.hint_code)
                return
            assert completion is not None and receipt is not None
            if not tx.transition(
                ref,
                [OrderStatus.SIGNING],
                OrderStatus.COMPLETE,
                HintCode.COMPLETE,
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
            tx.insert_receipt(ref, customer.id, at, receipt)
            if order.agreement_id:
                tx.mark_agreement_signed(order.agreement_id, ref, at)
            tx.audit("order.completed", ref, at, level="high", signatures=len(signed))

    def _validation_material(self, certificate: bytes) -> ValidationMaterial | None:
        """At B-LT and B-LTA: OCSP responses for the customer's and the TSA's certificates and the
        chain's CRLs, made in-process (no network); else None."""
        context = self.context
        if context.settings.pades_level not in _LONG_TERM_LEVELS:
            return None
        customer = x509.Certificate.load(certificate)
        return validation_material(
            context.ca, [customer, self.tsa.certificate()], context.crl.current(), context.settings.ocsp_cache_seconds
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
        level = self.context.settings.pades_level
        metadata = signers.PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            name=name,
            reason="Avtale signert",
            embed_validation_info=material is not None,
            use_pades_lta=level == "B-LTA",
            validation_context=signing_context(self.context.ca.root_certificate(), material) if material else None,
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
        keys = self.context.keys
        timestamped = self.context.settings.pades_level != "B-B"
        return detached_cms(
            lambda digest: keys.sign_digest(key_label, digest),
            certificate,
            chain,
            content,
            timestamp=self.tsa.signature_timestamp if timestamped else None,
            revocation=material,
        )

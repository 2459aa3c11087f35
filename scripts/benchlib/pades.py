"""PAdES of one PDF through the daemon's signing code against pyHanko's own `PKCS11Signer` with the
same key, at the same level (part of the `micro` worker task)."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from asn1crypto import x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import SigFieldSpec
from pyhanko.sign.pkcs11 import PKCS11Signer
from pyhanko.stamp import TextStampStyle

from tillit.signer.longterm import signing_context, validation_material
from tillit.signer.orders.signing import WHOLE_FILE_TIMESTAMPED, InProcessTimeStamper


def pades_vs_pyhanko(
    signer: Any, raw_session: Any, label: str, number: str, quick: bool, pages: int, make_pdf: Callable[..., bytes]
) -> dict[str, Any]:
    """The daemon's per-document signing at its `pades_level` (B-LTA by default: `DocumentSigner`'s
    certificate from the HSM layer, its revocation data made in-process, the `HsmCmsSigner`,
    `_pades`) against pyHanko's `PKCS11Signer(use_raw_mechanism=True)` made once with the same key,
    certificate and chain, producing the same level: the same field, stamp and metadata, the same
    TSA (in-process, signing in the HSM) and the same in-process OCSP responses and CRLs."""

    customer = signer.customer(number)
    pdf = make_pdf("Avtale om brukskonto", customer.name, pages)
    reference = "BLÅ FJORD"
    documents = signer.documents

    def through_daemon() -> bytes:
        cms_signer = documents._cms_signer(customer.key_label)
        material = documents._validation_material(signer.hsm.certificate(customer.key_label))
        return bytes(documents._pades(cms_signer, pdf, customer.name, reference, material))

    level = signer.settings.pades_level
    timestamper = InProcessTimeStamper(documents.tsa) if level != "B-B" else None
    der = signer.hsm.certificate(customer.key_label)
    direct_signer = PKCS11Signer(
        raw_session,
        key_label=label,
        signing_cert=x509.Certificate.load(der),
        ca_chain=signer.ca.chain(),
        use_raw_mechanism=True,
        embed_roots=True,
    )

    def direct() -> bytes:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        style = TextStampStyle(stamp_text=f"Signert med Tillit BankID\n{customer.name}\n{when}\nReferanse: {reference}")
        metadata = signers.PdfSignatureMetadata(
            field_name="TillitSignatur",
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            name=customer.name,
            reason="Avtale signert",
        )
        if level in ("B-LT", "B-LTA"):
            ends = [x509.Certificate.load(der), documents.tsa.certificate()]
            material = validation_material(signer.ca, ends, signer.current_crl(), signer.settings.ocsp_cache_seconds)
            metadata = dataclasses.replace(
                metadata,
                embed_validation_info=True,
                use_pades_lta=level == "B-LTA",
                validation_context=signing_context(signer.ca.root_certificate(), material),
                dss_settings=WHOLE_FILE_TIMESTAMPED,
            )
        field = SigFieldSpec(sig_field_name="TillitSignatur", on_page=-1, box=(36, 36, 306, 110))
        pdf_signer = signers.PdfSigner(
            metadata, signer=direct_signer, timestamper=timestamper, stamp_style=style, new_field_spec=field
        )
        out = io.BytesIO()

        async def run() -> None:
            await pdf_signer.async_sign_pdf(writer, output=out)

        asyncio.run(run())
        return out.getvalue()

    rounds = 5 if quick else 12
    daemon_times: list[float] = []
    direct_times: list[float] = []
    sizes = (len(through_daemon()), len(direct()))  # warm-up, both
    for i in range(rounds):
        pair = ((daemon_times, through_daemon), (direct_times, direct))
        for times, fn in pair if i % 2 == 0 else reversed(pair):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    daemon_ms = statistics.median(daemon_times) * 1000
    direct_ms = statistics.median(direct_times) * 1000
    return {
        "level": level,
        "pdf_pages": pages,
        "pdf_bytes": len(pdf),
        "signed_bytes": {"daemon": sizes[0], "pyhanko": sizes[1]},
        "daemon_ms": round(daemon_ms, 2),
        "pyhanko_direct_ms": round(direct_ms, 2),
        "rounds": rounds,
    }

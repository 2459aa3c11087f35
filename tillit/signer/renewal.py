"""Renewing B-LTA PDFs (`tillit-signer archive-timestamp`): the validation data of the newest
document timestamp into the DSS, then a fresh document timestamp over everything."""

from __future__ import annotations

import asyncio
import io

from asn1crypto import x509
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.timestamps.api import TimeStamper

from tillit.signer.longterm import ValidationMaterial, signing_context
from tillit.signer.verify import VerifyInputError


def last_document_timestamp_signer(data: bytes) -> x509.Certificate:
    """The TSA certificate of a PDF's newest document timestamp; `VerifyInputError` when it has none."""
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        timestamps = reader.embedded_timestamp_signatures
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as e:
        raise VerifyInputError(f"not a readable PDF ({type(e).__name__})") from None
    if not timestamps:
        raise VerifyInputError("no document timestamp to renew (not a PAdES B-LTA PDF)")
    cert: x509.Certificate = timestamps[-1].signer_cert
    return cert


def archive_timestamp(
    data: bytes, timestamper: TimeStamper, root: x509.Certificate, material: ValidationMaterial
) -> bytes:
    """A B-LTA PDF with one more revision: the validation data of its newest document timestamp in
    the DSS, then a fresh document timestamp over everything (pyHanko's archival timestamp chain)."""
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    output = io.BytesIO()

    async def run() -> None:
        await PdfTimeStamper(timestamper).async_update_archival_timestamp_chain(
            reader, signing_context(root, material), in_place=False, output=output
        )

    try:
        asyncio.run(run())
    except (PdfError, KeyError, TypeError, IndexError) as e:
        # pyHanko meets a damaged part only when it reads it: the signed revisions or the DSS.
        raise VerifyInputError(f"not a readable PDF, or one damaged since it was signed ({type(e).__name__})") from e
    return output.getvalue()

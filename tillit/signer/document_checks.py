"""Checks of the documents a kiosk sends for signing, before anything is stored: which are PDFs, and
whether a PDF's pages may show what the kiosk shows the customer."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from tillit.signer import errors
from tillit.signer.pdf.sniffing import HostilePdf, inspect_layout, looks_like_pdf


@dataclass(frozen=True)
class NewDocument:
    """A document as a kiosk sends it to be signed."""

    name: str
    content_type: str
    content: bytes


def check_documents(documents: list[NewDocument]) -> None:
    """Refuse (`errors.InvalidInput`, with the reason) any PDF among them that `check_pdf` refuses."""
    for doc in documents:
        if is_pdf(doc.content_type, doc.content):
            check_pdf(doc.content, doc.name)


def is_pdf(content_type: str, content: bytes) -> bool:
    """Sniffed from the bytes and the content type together (`looks_like_pdf`): any document a viewer
    could open as a PDF is checked, and signed, as one."""
    return looks_like_pdf(content_type, content)


def check_pdf(content: bytes, name: str) -> None:
    """Refuse (`errors.InvalidInput`, with the reason) a PDF whose pages may not show what the kiosk
    shows the customer, or that is hostile otherwise: the exact checks of signer/pdf/ first (cheap),
    then the rendering compared with the text (signer/pdf/render_check.py, cached by SHA-256)."""
    # Imported here: pypdf and pyHanko's PDF reader take about 0.2 s to import, which every
    # administrator's command would pay, and only an order's or an agreement's PDF needs them.
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader

    from tillit.signer.pdf.content import inspect_page_content
    from tillit.signer.pdf.objects import inspect_pdf
    from tillit.signer.pdf.render_check import RenderCheckUnavailable, check_rendering
    from tillit.signer.pdf.revisions import inspect_revisions

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

"""The text of a PDF for the agreement viewer (pypdf), page by page."""

from __future__ import annotations

import io

from pypdf import PdfReader
from pypdf.errors import PdfReadError


class UnreadablePdf(ValueError):
    pass


def pdf_pages(content: bytes) -> list[str]:
    """Each page's text, with runs of blank lines squeezed. Raises UnreadablePdf."""
    try:
        reader = PdfReader(io.BytesIO(content))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise UnreadablePdf(f"the agreement could not be read ({type(e).__name__})") from e
    cleaned = []
    for text in pages:
        lines = [line.rstrip() for line in text.splitlines()]
        squeezed: list[str] = []
        for line in lines:
            if line or (squeezed and squeezed[-1]):
                squeezed.append(line)
        cleaned.append("\n".join(squeezed).strip())
    return cleaned

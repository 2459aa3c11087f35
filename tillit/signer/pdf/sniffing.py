"""What is a PDF (`looks_like_pdf`), and one that begins at its "%PDF-" header and ends at its last
"%%EOF" (`inspect_layout`), so that no two readers start or stop reading it at different places."""

from __future__ import annotations

PDF_CONTENT_TYPES = {
    "application/pdf",
    "application/x-pdf",
    "application/acrobat",
    "application/vnd.pdf",
    "text/pdf",
    "text/x-pdf",
}
HEADER_WINDOW = 1024  # where viewers look for "%PDF-"
TRAILER_WINDOW = 1024  # where viewers look for "startxref"


class HostilePdf(Exception):
    """A PDF refused by one of the checks of this package; the message says why, to the customer."""


def looks_like_pdf(content_type: str, content: bytes) -> bool:
    """Whether any viewer could open `content` as a PDF, or its sender says it is one."""
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind in PDF_CONTENT_TYPES or b"%PDF-" in content[:HEADER_WINDOW] or b"startxref" in content[-TRAILER_WINDOW:]


def inspect_layout(content: bytes) -> None:
    """The "%PDF-" header is the first byte, and nothing but white space follows the last "%%EOF"."""
    start = content.find(b"%PDF-", 0, HEADER_WINDOW)
    if start < 0:
        raise HostilePdf("it does not begin with a %PDF- header")
    if start > 0:
        raise HostilePdf(
            f"it has {start} byte(s) before its %PDF- header (viewers differ on where such a file starts;"
            " save it again from the program that made it)"
        )
    end = content.rfind(b"%%EOF")
    if end < 0:
        raise HostilePdf("it has no %%EOF end marker (it may be cut short)")
    if content[end + 5 :].strip(b" \t\r\n\f\0"):
        raise HostilePdf("it has data after its last %%EOF end marker")

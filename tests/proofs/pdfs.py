"""Hostile PDFs for sign orders, each built small and on the spot (the bomb inflates in the reader)."""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Callable
from functools import cache

from tillit.signer.sample_documents import agreement_pdf


def build(objects: list[bytes], root: int = 1, trailer: bytes = b"") -> bytes:
    """A PDF with a correct cross-reference table for `objects` (numbered from 1)."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root %d 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, trailer, xref)
    )
    return out.getvalue()


PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>"
_TEXT = b"BT /F1 12 Tf 72 712 Td (Avtale) Tj ET"
CONTENT = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(_TEXT), _TEXT)


def plain() -> bytes:
    return build([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", PAGE, CONTENT])


def truncated() -> bytes:
    whole = agreement_pdf("Lånavtale", "Kari Nordmann")
    return whole[: len(whole) * 3 // 5]


def encrypted() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(plain())))
    writer.encrypt("hemmeleg", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def huge_page_count() -> bytes:
    return build(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 2147483647 >>", PAGE, CONTENT]
    )


def broken_xref() -> bytes:
    good = plain()
    return re.sub(rb"(\d{10}) 00000 n", lambda m: b"%010d 00000 n" % (int(m.group(1)) + 7), good)


def javascript_open_action() -> bytes:
    return build(
        [
            b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            PAGE,
            CONTENT,
            b"<< /S /JavaScript /JS (this.getField\\('amount'\\).value = 1000000;) >>",
        ]
    )


def javascript_in_names() -> bytes:
    return build(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Names << /JavaScript 5 0 R >> >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            PAGE,
            CONTENT,
            b"<< /Names [(x) 6 0 R] >>",
            b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>",
        ]
    )


def launch_action() -> bytes:
    return build(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /AA << /O 5 0 R >> >>",
            CONTENT,
            b"<< /S /Launch /F (cmd.exe) >>",
        ]
    )


def recursive_page_tree() -> bytes:
    return build([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>"])


def recursive_kids_two_levels() -> bytes:
    return build(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 1 >>",
        ]
    )


def deeply_nested() -> bytes:
    nested = b"[" * 50_000 + b"]" * 50_000
    return build(
        [
            b"<< /Type /Catalog /Pages 2 0 R /X " + nested + b" >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            PAGE,
            CONTENT,
        ]
    )


@cache
def _bomb_stream() -> bytes:
    return zlib.compress(b"\0" * (100 * 1024 * 1024), 9)  # ~100 KB that inflates to 100 MiB


def zip_bomb() -> bytes:
    data = _bomb_stream()
    stream = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream"
    return build([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", PAGE, stream])


def no_pages() -> bytes:
    return build([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"])


def not_a_pdf_at_all() -> bytes:
    return b"%PDF-1.7\n" + b"\x00\xff" * 500


HOSTILE: dict[str, Callable[[], bytes]] = {
    "truncated": truncated,
    "encrypted": encrypted,
    "huge-page-count": huge_page_count,
    "broken-xref": broken_xref,
    "javascript-open-action": javascript_open_action,
    "javascript-in-names": javascript_in_names,
    "launch-action": launch_action,
    "recursive-page-tree": recursive_page_tree,
    "recursive-kids": recursive_kids_two_levels,
    "deeply-nested": deeply_nested,
    "zip-bomb": zip_bomb,
    "no-pages": no_pages,
    "garbage": not_a_pdf_at_all,
}

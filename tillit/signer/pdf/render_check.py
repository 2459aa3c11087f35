"""Whether a PDF's pages show the text the kiosk shows the customer: rendered, read back, compared.

The kiosk shows a PDF's text layer (pypdf's `extract_text`, page by page: kiosk/pdftext.py); the
customer signs the PDF, which every viewer and validator shows as its pages render. Here each page
is rendered with poppler's `pdftoppm` (grey, `DPI`) and read back with tesseract OCR, and the words
and numbers read are compared with the page's text layer extracted exactly as the kiosk does:

- numbers must match exactly (as a multiset per page, thousands separators ignored): "10 000 kr" in
  the text and "990 000 kr" on the page is refused, whatever font trick produced it;
- words (two letters or more) match fuzzily, to forgive OCR's slips (one letter in five): a word
  in the text layer that the page does not show, or a word on the page the text layer does not
  have, refuses the PDF.

This catches, without knowing how it is done, a font whose ToUnicode map lies, text covered by a
shape or an image drawn later, text clipped away, white text on white shapes, form fields and
annotations whose appearance says something the text does not.

The verdict is cached by the document's SHA-256 (in memory, `CACHE_SIZE` documents), so an
agreement is read once per daemon, not at every order. The work is bounded: at most `MAX_PAGES`
pages of at most `MAX_PAGE_POINTS` a side, `DEADLINE_SECONDS` in all, one check at a time (OCR
takes a whole core: about 0.5 s a page, A4 at 150 dpi). A document beyond the bounds is refused
with the reason; a missing tool is `RenderCheckUnavailable` (the signer cannot vouch for any PDF).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import tempfile
import threading
import time
import unicodedata
from collections import Counter, OrderedDict
from difflib import SequenceMatcher
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from tillit.signer.pdf.sniffing import HostilePdf

DPI = 150
MAX_PAGES = 30
MAX_PAGE_POINTS = 1800.0  # 63.5 cm: a poster page at 150 dpi would be a gigapixel image
DEADLINE_SECONDS = 25.0  # under the kiosk's 30 s HTTP timeout
CACHE_SIZE = 512
OCR_LANGUAGES = "nor"  # Norwegian's model reads English too; both scripts are Latin
WORD_SIMILARITY = 0.8  # a word read by OCR may differ from the text's in one letter in five
SHOWN_DIFFERENCES = 3

_cache: OrderedDict[str, str | None] = OrderedDict()
_cache_lock = threading.Lock()
_one_at_a_time = threading.Lock()  # two OCR runs would share the same two cores with everything else
_THOUSANDS = re.compile(r"(?<=\d)[ \u00a0\u202f\u2009.,'](?=\d{3}(?!\d))")
_NUMBER = re.compile(r"\d+")
_WORD = re.compile(r"[^\W\d_]{2,}")


class RenderCheckUnavailable(Exception):
    """The tools to check a PDF's pages are missing or failed for reasons not the document's."""


def check_rendering(content: bytes, digest: str) -> None:
    """Raise `HostilePdf` when the pages do not show the text the kiosk would show; cached by `digest`."""
    with _cache_lock:
        if digest in _cache:
            _cache.move_to_end(digest)
            cached = _cache[digest]
            if cached is not None:
                raise HostilePdf(cached)
            return
    if not _one_at_a_time.acquire(timeout=DEADLINE_SECONDS):
        raise RenderCheckUnavailable("the signer is busy checking other PDFs; try again in a moment")
    try:
        reason = _verdict(content)
    finally:
        _one_at_a_time.release()
    with _cache_lock:
        _cache[digest] = reason
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    if reason is not None:
        raise HostilePdf(reason)


def text_layer(content: bytes) -> list[str]:
    """Each page's text as the kiosk shows it (pypdf's `extract_text`, as kiosk/pdftext.py)."""
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages]


def rendered_text(content: bytes, pages: int, deadline: float) -> list[str]:
    """Each page's text as OCR reads it from poppler's rendering."""
    with tempfile.TemporaryDirectory(prefix="tillit-pdf-") as work:
        folder = Path(work)
        (folder / "doc.pdf").write_bytes(content)
        _run(["pdftoppm", "-r", str(DPI), "-gray", "-png", "-l", str(pages), "doc.pdf", "page"], folder, deadline)
        images = sorted(folder.glob("page-*.png"))
        if len(images) != pages:
            raise HostilePdf(f"poppler draws {len(images)} of its {pages} pages")
        (folder / "pages.txt").write_text("\n".join(str(image) for image in images) + "\n")
        out = _run(["tesseract", "pages.txt", "-", "-l", OCR_LANGUAGES], folder, deadline)
    texts = out.split("\f")  # tesseract ends each page with a form feed
    return [*texts[:pages], *([""] * (pages - len(texts)))][:pages]


def _run(command: list[str], folder: Path, deadline: float) -> str:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise HostilePdf(f"its pages take more than {DEADLINE_SECONDS:g} s to check; split it into smaller documents")
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # tesseract's threads cost more than they bring here
    try:
        done = subprocess.run(
            command, cwd=folder, capture_output=True, timeout=remaining, env=env, check=False, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise RenderCheckUnavailable(f"{command[0]} is not installed, so no PDF can be checked") from None
    except subprocess.TimeoutExpired:
        raise HostilePdf(
            f"its pages take more than {DEADLINE_SECONDS:g} s to check; split it into smaller documents"
        ) from None
    if done.returncode != 0:
        if command[0] == "pdftoppm":
            raise HostilePdf("its pages cannot be drawn (poppler refuses them)")
        raise RenderCheckUnavailable(f"{command[0]} failed ({done.returncode}): {done.stderr.decode()[-200:]}")
    return done.stdout.decode("utf-8", "replace")


def _verdict(content: bytes) -> str | None:
    """None when every page shows its text layer; else the reason, for a staff member."""
    started = time.monotonic()
    try:
        layer = _bounded_text_layer(content)
        shown = rendered_text(content, len(layer), started + DEADLINE_SECONDS)
    except HostilePdf as e:
        return str(e)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as e:
        return f"its text cannot be extracted as the kiosk would show it ({type(e).__name__})"
    for number, (text, ocr) in enumerate(zip(layer, shown, strict=True), start=1):
        difference = compare_page(text, ocr)
        if difference is not None:
            return f"page {number} does not show the text the customer would read: {difference}"
    return None


def _bounded_text_layer(content: bytes) -> list[str]:
    """`text_layer`, refusing (`HostilePdf`) documents beyond the pages and sizes we check."""
    reader = PdfReader(io.BytesIO(content))
    if len(reader.pages) > MAX_PAGES:
        raise HostilePdf(f"it has {len(reader.pages)} pages; the signer checks what at most {MAX_PAGES} pages show")
    for number, page in enumerate(reader.pages, start=1):
        box = page.mediabox
        if max(float(box.width), float(box.height)) > MAX_PAGE_POINTS:
            raise HostilePdf(f"page {number} is larger than {MAX_PAGE_POINTS / 72 * 2.54:.0f} cm, too large to check")
    return text_layer(content)


def _normalise(text: str) -> str:
    return _THOUSANDS.sub("", unicodedata.normalize("NFKC", text).casefold())


def compare_page(text: str, ocr: str) -> str | None:
    """How what the page shows (`ocr`) differs from its text layer (`text`), or None."""
    text, ocr = _normalise(text), _normalise(ocr)
    in_text, on_page = Counter(_NUMBER.findall(text)), Counter(_NUMBER.findall(ocr))
    if in_text != on_page:
        missing = sorted((in_text - on_page).elements())[:SHOWN_DIFFERENCES]
        extra = sorted((on_page - in_text).elements())[:SHOWN_DIFFERENCES]
        parts = []
        if extra:
            parts.append(f"the page shows the number(s) {', '.join(extra)}, which the text does not have")
        if missing:
            parts.append(f"the text has the number(s) {', '.join(missing)}, which the page does not show")
        return "; ".join(parts)
    words_text, words_page = _WORD.findall(text), _WORD.findall(ocr)
    not_shown, not_in_text = _unmatched(words_text, words_page)
    if not_shown or not_in_text:
        parts = []
        if not_in_text:
            parts.append(f"the page shows {_quote(not_in_text)}, which the text does not have")
        if not_shown:
            parts.append(f"the text has {_quote(not_shown)}, which the page does not show")
        return "; ".join(parts)
    return None


def _unmatched(left: list[str], right: list[str]) -> tuple[list[str], list[str]]:
    """Words of each list with no counterpart in the other: aligned in order first, then fuzzily anywhere."""
    lonely_left: list[str] = []
    lonely_right: list[str] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, left, right, autojunk=False).get_opcodes():
        if tag != "equal":
            lonely_left.extend(left[i1:i2])
            lonely_right.extend(right[j1:j2])
    still_left = []
    for word in lonely_left:
        match = next(
            (
                i
                for i, other in enumerate(lonely_right)
                if SequenceMatcher(None, word, other).ratio() >= WORD_SIMILARITY
            ),
            None,
        )
        if match is None:
            still_left.append(word)
        else:
            lonely_right.pop(match)
    return still_left, lonely_right


def _quote(words: list[str]) -> str:
    shown = ", ".join(f"'{w}'" for w in words[:SHOWN_DIFFERENCES])
    return shown + (f" and {len(words) - SHOWN_DIFFERENCES} more word(s)" if len(words) > SHOWN_DIFFERENCES else "")

"""Refusing hostile PDFs at order start, before anything is stored, shown or signed.

A PDF the customer approves must be the PDF the customer can read. The kiosk shows the customer a
PDF's text layer (pypdf's `extract_text`, kiosk/pdftext.py), while a viewer, a printer and every
signature validator show what its pages render: a PDF is accepted only when the two agree ("what
you see is what you sign"). What is checked here, exactly, by parsing:

- What is a PDF (`looks_like_pdf`): sniffed from the bytes and the content type together, never
  one alone: a PDF content type in any spelling, "%PDF-" anywhere in the first 1024 bytes (viewers
  accept that), or a "startxref" near the end (poppler opens a PDF with no header at all). Whatever
  is sniffed as a PDF goes through every check below; a PDF must begin with its "%PDF-" header and
  end at its last "%%EOF", so no two readers can start or stop reading it at different places.
- Structure (`inspect_pdf`): a page tree that is a tree and has the pages it declares, every object
  it refers to readable (a broken cross-reference table fails here, not in the middle of signing),
  no stream that decompresses into a bomb (the kiosk renders the text; nobody should be handed a
  10 MB file that inflates to gigabytes).
- Active and remote content: no JavaScript, XFA forms or rich media, and no action that leaves the
  document or changes it (Launch, SubmitForm, ResetForm, ImportData, GoToR, GoToE, SetOCGState,
  Hide, Rendition, Sound, Movie, a URI that is not http(s) or mailto) anywhere in it; what runs by
  itself (the catalog's /OpenAction, any /AA) may only go to a place in the document.
- Revisions (`inspect_revisions`): an incremental update after the first %%EOF may add things a
  signing workflow adds (an empty signature field), but must not change any page's content,
  resources or boxes: otherwise the revision a reader starts from decides what it shows.
- Page content (`inspect_page_content`, every content stream and form XObject interpreted): no text
  the reader cannot see but the text layer holds: render modes 3 and 7 (invisible), text placed
  outside the crop box or the media box, white (or near-white) text on a page where nothing was
  painted beneath it, fully transparent text, text less than a point high.

What can be decided only by looking at the rendered page (a font whose ToUnicode map lies, text
covered by a shape or an image drawn later, text clipped away) is checked by
`signer.pdf_render_check`: each page is rendered and read back with OCR, and compared with the text
layer.

Everything is bounded: objects visited, pages, nesting, bytes inflated per stream and in total,
content-stream operations interpreted.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from dataclasses import dataclass, replace
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

MAX_OBJECTS = 200_000
MAX_PAGES = 10_000
MAX_DEPTH = 64
MAX_STREAM_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024
ACTIVE_KEYS = {"/JS": "JavaScript", "/JavaScript": "JavaScript", "/XFA": "an XFA form", "/RichMedia": "rich media"}
ACTIVE_ACTIONS = {
    "/JavaScript": "JavaScript",
    "/Launch": "a launch action (it starts a program or opens a file)",
    "/ImportData": "an import action (it fills the form from a file)",
    "/SubmitForm": "a submit-form action (it sends the form to a server)",
    "/ResetForm": "a reset-form action (it changes what the form shows)",
    "/GoToR": "a link into another PDF file (GoToR)",
    "/GoToE": "a link into an embedded file (GoToE)",
    "/SetOCGState": "an action that shows or hides parts of the page (SetOCGState)",
    "/Hide": "an action that hides parts of the page",
    "/Rendition": "a media action",
    "/Sound": "a sound action",
    "/Movie": "a movie action",
    "/RichMediaExecute": "a rich media action",
    "/GoTo3DView": "a 3D view action",
}
# What may run by itself (the catalog's /OpenAction, any /AA): only going to a place in the document.
AUTOMATIC_ACTIONS_ALLOWED = {"/GoTo"}
URI_SCHEMES_ALLOWED = ("http:", "https:", "mailto:")


class HostilePdf(Exception):
    pass


def inspect_pdf(reader: PdfFileReader) -> int:
    """Raise `HostilePdf` with the reason; return the number of pages."""
    root = reader.root
    pages = _count_pages(root.raw_get("/Pages"))
    declared = root["/Pages"].get("/Count")
    if not isinstance(declared, int) or int(declared) != pages:
        raise HostilePdf(f"its page tree declares {declared} pages but holds {pages}")
    if pages < 1:
        raise HostilePdf("it has no pages")
    _walk(root)
    return pages


def _resolve(value: Any) -> tuple[Any, tuple[int, int] | None]:
    if isinstance(value, generic.IndirectObject):
        return value.get_object(), (value.idnum, value.generation)
    return value, None


def _count_pages(pages_ref: Any) -> int:
    """Leaves of the page tree, refusing cycles, shared nodes and absurd sizes (iteratively)."""
    seen: set[tuple[int, int]] = set()
    count = 0
    stack: list[tuple[Any, int]] = [(pages_ref, 0)]
    while stack:
        raw, depth = stack.pop()
        node, ref = _resolve(raw)
        if ref is not None:
            if ref in seen:
                raise HostilePdf("its page tree refers back to itself (a loop)")
            seen.add(ref)
        if depth > MAX_DEPTH:
            raise HostilePdf("its page tree is nested too deeply")
        if not isinstance(node, generic.DictionaryObject):
            raise HostilePdf("its page tree holds something that is not a page")
        kind = node.get("/Type")
        if kind == "/Page" or (kind is None and "/Kids" not in node):
            count += 1
            if count > MAX_PAGES:
                raise HostilePdf(f"it has more than {MAX_PAGES} pages")
            continue
        kids = node.raw_get("/Kids") if "/Kids" in node else None
        kids, _ = _resolve(kids)
        if not isinstance(kids, generic.ArrayObject):
            raise HostilePdf("a node of its page tree has no /Kids")
        for kid in kids:
            stack.append((kid, depth + 1))
    return count


def _walk(root: generic.DictionaryObject) -> None:
    """Every object reachable from the catalog: no active content, no stream bomb."""
    seen: set[tuple[int, int]] = set()
    inflated = 0
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:
        raw, depth = stack.pop()
        value, ref = _resolve(raw)
        if ref is not None:
            if ref in seen:
                continue
            seen.add(ref)
            if len(seen) > MAX_OBJECTS:
                raise HostilePdf(f"it has more than {MAX_OBJECTS} objects")
        if depth > MAX_DEPTH:
            raise HostilePdf("it nests objects too deeply")
        if isinstance(value, generic.DictionaryObject):
            for key in value:
                if key in ACTIVE_KEYS:
                    raise HostilePdf(f"it contains {ACTIVE_KEYS[key]}")
            action = value.get("/S") if "/S" in value else None
            if action in ACTIVE_ACTIONS:
                raise HostilePdf(f"it contains {ACTIVE_ACTIONS[action]}")
            if action == "/URI":
                _check_uri(value)
            if "/OpenAction" in value:
                _check_automatic(value.raw_get("/OpenAction"), "when it is opened")
            if "/AA" in value:
                triggers, _ = _resolve(value.raw_get("/AA"))
                if isinstance(triggers, generic.DictionaryObject):
                    for trigger in triggers:
                        _check_automatic(triggers.raw_get(trigger), f"by itself (trigger {trigger[1:]})")
            if isinstance(value, generic.StreamObject):
                inflated += _inflated_size(value, MAX_TOTAL_BYTES - inflated)
            for key in value:
                stack.append((value.raw_get(key), depth + 1))
        elif isinstance(value, generic.ArrayObject):
            for item in value:
                stack.append((item, depth + 1))


def _check_uri(action: generic.DictionaryObject) -> None:
    target = action.get("/URI") if "/URI" in action else None
    if isinstance(target, generic.ByteStringObject):
        text = bytes(target).decode("latin-1")
    else:
        text = str(target) if isinstance(target, str) else ""
    if not text.strip().lower().startswith(URI_SCHEMES_ALLOWED):
        raise HostilePdf("it contains a link that is not to a web page or an e-mail address (a file or a program)")


def _check_automatic(action: Any, when: str) -> None:
    """An action that runs without the reader asking for it: only GoTo (a destination array is a GoTo)."""
    action, _ = _resolve(action)
    if isinstance(action, generic.DictionaryObject):
        kind = action.get("/S") if "/S" in action else None
        if kind not in AUTOMATIC_ACTIONS_ALLOWED:
            shown = str(kind)[1:] if isinstance(kind, generic.NameObject) else "of no known kind"
            raise HostilePdf(f"it contains an action ({shown}) that runs {when}")


def _inflated_size(stream: generic.StreamObject, budget: int) -> int:
    """Bytes a Flate stream inflates to, stopping at the per-stream and total limits."""
    filters = stream.get("/Filter") if "/Filter" in stream else None
    first = filters[0] if isinstance(filters, generic.ArrayObject) and filters else filters
    if first not in ("/FlateDecode", "/Fl"):
        return 0
    limit = min(MAX_STREAM_BYTES, budget)
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(stream.encoded_data, limit + 1)
    except zlib.error:
        raise HostilePdf("a compressed stream is corrupt") from None
    if len(out) > limit:
        raise HostilePdf(f"a compressed stream inflates to more than {limit // (1024 * 1024)} MiB (a zip bomb)")
    return len(out)


# -- sniffing and the file's first and last bytes --------------------------------------------------

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


# -- revisions ------------------------------------------------------------------------------------

PAGE_KEYS_COMPARED = ("/Contents", "/Resources", "/MediaBox", "/CropBox", "/Rotate", "/UserUnit", "/Group")
MAX_FINGERPRINT_OBJECTS = 100_000


def inspect_revisions(reader: PdfFileReader) -> None:
    """An incremental update may add an (empty) signature field, not change what any page draws."""
    revisions = int(reader.xrefs.total_revisions)
    if revisions <= 1:
        return
    first = _page_fingerprints(reader.get_historical_root(0))
    last = _page_fingerprints(reader.root)
    if len(first) != len(last):
        raise HostilePdf(
            f"it was changed after it was first saved: an update changes its number of pages ({len(first)} to"
            f" {len(last)}); save it as a new file"
        )
    for number, (before, after) in enumerate(zip(first, last, strict=True), start=1):
        if before != after:
            raise HostilePdf(
                f"it was changed after it was first saved: an update changes what page {number} shows"
                " (an incremental update); save it as a new file"
            )


def _page_fingerprints(root: generic.DictionaryObject) -> list[str]:
    """For each page in order, a digest of what it draws with (contents, resources, boxes; inherited too)."""
    budget = [MAX_FINGERPRINT_OBJECTS]
    out: list[str] = []
    stack: list[tuple[Any, dict[str, Any]]] = [(root.raw_get("/Pages"), {})]
    while stack:
        raw, inherited = stack.pop()
        node, _ = _resolve(raw)
        if not isinstance(node, generic.DictionaryObject):
            continue
        here = dict(inherited)
        for key in PAGE_KEYS_COMPARED:
            if key in node:
                here[key] = node.raw_get(key)
        if "/Kids" in node:
            kids, _ = _resolve(node.raw_get("/Kids"))
            if isinstance(kids, generic.ArrayObject):
                stack.extend((kid, here) for kid in reversed(list(kids)))
            continue
        digest = hashlib.sha256()
        for key in PAGE_KEYS_COMPARED:
            digest.update(key.encode() + b"=")
            _fingerprint(here.get(key), digest, budget, 0)
        out.append(digest.hexdigest())
    return out


def _fingerprint(raw: Any, digest: Any, budget: list[int], depth: int) -> None:
    """Feed a resolved object's value (not its object numbers) into `digest`, bounded."""
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise HostilePdf("its revisions are too large to compare")
    value, _ = _resolve(raw)
    if isinstance(value, generic.DictionaryObject):
        digest.update(b"<<")
        for key in sorted(value):
            if key in ("/Parent", "/Length"):  # back up the tree; the stream's own length
                continue
            digest.update(str(key).encode())
            _fingerprint(value.raw_get(key), digest, budget, depth + 1)
        if isinstance(value, generic.StreamObject):
            digest.update(b"stream" + bytes(value.encoded_data))
        digest.update(b">>")
    elif isinstance(value, generic.ArrayObject):
        digest.update(b"[")
        for item in value:
            _fingerprint(item, digest, budget, depth + 1)
        digest.update(b"]")
    else:
        digest.update(repr(value).encode() + b";")


# -- what the pages draw --------------------------------------------------------------------------

MAX_OPERATIONS = 2_000_000  # content-stream operators interpreted, all pages and forms together
MAX_CONTENT_BYTES = 16 * 1024 * 1024  # decoded content of one page or form
MAX_FORM_DEPTH = 12
MIN_TEXT_HEIGHT = 1.0  # points: smaller text is in the text layer but nobody can read it on paper
MIN_ALPHA = 0.1  # more transparent than this is invisible
WHITE = 0.95  # each colour component this close to white is white on white paper
BOX_SLACK = 1.0  # points a glyph's origin may stand outside the box (rounding in generators)

Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
FILL_PAINTING = {b"f", b"F", b"f*", b"B", b"B*", b"b", b"b*", b"sh", b"INLINE IMAGE"}
DEVICE_SPACES = {
    "/DeviceGray": 1, "/CalGray": 1, "/G": 1,
    "/DeviceRGB": 3, "/CalRGB": 3, "/RGB": 3, "/Lab": 0,
    "/DeviceCMYK": 4, "/CMYK": 4,
}  # fmt: skip


def _times(m: Matrix, n: Matrix) -> Matrix:
    """m then n (PDF's row-vector convention: m × n)."""
    a, b, c, d, e, f = m
    p, q, r, s, t, u = n
    return (a * p + b * r, a * q + b * s, c * p + d * r, c * q + d * s, e * p + f * r + t, e * q + f * s + u)


@dataclass
class _Graphics:
    """The parts of the graphics state that decide whether text can be seen."""

    ctm: Matrix = IDENTITY
    fill_components: int = 1  # 1 gray, 3 RGB, 4 CMYK, 0 unknown (pattern, separation, ...)
    fill: tuple[float, ...] = (0.0,)
    stroke_components: int = 1
    stroke: tuple[float, ...] = (0.0,)
    fill_alpha: float = 1.0
    stroke_alpha: float = 1.0
    render_mode: int = 0
    font_size: float = 0.0
    horizontal_scale: float = 1.0
    rise: float = 0.0
    leading: float = 0.0


@dataclass
class _Page:
    number: int
    crop: tuple[float, float, float, float]
    media: tuple[float, float, float, float]
    painted: bool = False  # anything drawn yet that white text could stand on
    operations: int = 0


def _box(rect: Any) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in rect)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def inspect_page_content(content: bytes) -> None:
    """Interpret every page's content (and its form XObjects) the way a renderer places text."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        budget = [MAX_OPERATIONS]
        for number, page in enumerate(reader.pages, start=1):
            media = _box(page.mediabox)
            crop = _box(page.cropbox)
            visible = (max(crop[0], media[0]), max(crop[1], media[1]), min(crop[2], media[2]), min(crop[3], media[3]))
            state = _Page(number, visible, media)
            resources = page.get("/Resources")
            _interpret(page.get_contents(), resources, _Graphics(), state, budget, 0, reader)
    except HostilePdf:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as e:
        raise HostilePdf(f"its page content cannot be read ({type(e).__name__})") from None


def _interpret(
    stream: Any, resources: Any, start: _Graphics, page: _Page, budget: list[int], depth: int, reader: Any
) -> None:
    from pypdf.generic import ContentStream

    if stream is None:
        return
    contents = stream if isinstance(stream, ContentStream) else ContentStream(stream, reader)
    if len(contents.get_data()) > MAX_CONTENT_BYTES:
        raise HostilePdf(f"page {page.number} has more than {MAX_CONTENT_BYTES // (1024 * 1024)} MiB of content")
    resources = resources.get_object() if resources is not None else None
    gs = replace(start)
    saved: list[_Graphics] = []
    tm = tlm = IDENTITY
    for operands, op in contents.operations:
        budget[0] -= 1
        if budget[0] < 0:
            raise HostilePdf(f"its pages have more than {MAX_OPERATIONS} drawing operations (too many to check)")
        args = operands if isinstance(operands, list) else []
        if op == b"q":
            saved.append(replace(gs))
        elif op == b"Q":
            gs = saved.pop() if saved else gs
        elif op == b"cm" and len(args) == 6:
            gs.ctm = _times(_numbers(args), gs.ctm)  # type: ignore[arg-type]
        elif op == b"BT":
            tm = tlm = IDENTITY
        elif op == b"Tm" and len(args) == 6:
            tm = tlm = _numbers(args)  # type: ignore[assignment]
        elif op in (b"Td", b"TD") and len(args) == 2:
            tx, ty = _numbers(args)
            if op == b"TD":
                gs.leading = -ty
            tm = tlm = _times((1.0, 0.0, 0.0, 1.0, tx, ty), tlm)
        elif op == b"T*":
            tm = tlm = _times((1.0, 0.0, 0.0, 1.0, 0.0, -gs.leading), tlm)
        elif op == b"TL" and args:
            gs.leading = _numbers(args)[0]
        elif op == b"Tf" and len(args) == 2:
            gs.font_size = _numbers(args[1:])[0]
        elif op == b"Tr" and args:
            gs.render_mode = int(_numbers(args)[0])
        elif op == b"Tz" and args:
            gs.horizontal_scale = _numbers(args)[0] / 100
        elif op == b"Ts" and args:
            gs.rise = _numbers(args)[0]
        elif op in (b"Tj", b"TJ", b"'", b'"'):
            if op in (b"'", b'"'):
                tm = tlm = _times((1.0, 0.0, 0.0, 1.0, 0.0, -gs.leading), tlm)
            if _shows_something(args[-1:] if args else []):
                _check_text(gs, tm, page)
        elif op in (b"g", b"rg", b"k"):
            gs.fill_components, gs.fill = len(args), _numbers(args)
        elif op in (b"G", b"RG", b"K"):
            gs.stroke_components, gs.stroke = len(args), _numbers(args)
        elif op in (b"cs", b"CS") and args:
            components = _space_components(args[0], resources)
            if op == b"cs":
                gs.fill_components, gs.fill = components, (0.0,) * max(components, 1)
            else:
                gs.stroke_components, gs.stroke = components, (0.0,) * max(components, 1)
        elif op in (b"sc", b"scn"):
            gs.fill = _colour(args, gs.fill_components)
        elif op in (b"SC", b"SCN"):
            gs.stroke = _colour(args, gs.stroke_components)
        elif op == b"gs" and args:
            _apply_ext_gstate(gs, _resource(resources, "/ExtGState", args[0]))
        elif op == b"Do" and args:
            xobject = _resource(resources, "/XObject", args[0])
            if isinstance(xobject, dict) and xobject.get("/Subtype") == "/Form":
                if depth >= MAX_FORM_DEPTH:
                    raise HostilePdf(f"page {page.number} nests forms more than {MAX_FORM_DEPTH} deep")
                matrix = xobject.get("/Matrix")
                form_gs = replace(gs, ctm=_times(_numbers(list(matrix)), gs.ctm) if matrix else gs.ctm)  # type: ignore[arg-type]
                _interpret(xobject, xobject.get("/Resources") or resources, form_gs, page, budget, depth + 1, reader)
            else:
                page.painted = True
        elif op in FILL_PAINTING:
            page.painted = True


def _numbers(args: list[Any]) -> tuple[float, ...]:
    return tuple(float(a) for a in args if isinstance(a, int | float))


def _shows_something(args: list[Any]) -> bool:
    """A text-showing operator's string (or TJ array) holds at least one byte."""
    for arg in args:
        if isinstance(arg, list):
            if any(isinstance(item, str | bytes) and len(item) > 0 for item in arg):
                return True
        elif isinstance(arg, str | bytes) and len(arg) > 0:
            return True
    return False


def _resource(resources: Any, category: str, name: Any) -> Any:
    if not isinstance(resources, dict):
        return None
    group = resources.get(category)
    group = group.get_object() if group is not None else None
    if not isinstance(group, dict):
        return None
    found = group.get(name)
    return found.get_object() if found is not None else None


def _space_components(name: Any, resources: Any) -> int:
    """Components of a colour space we can judge (gray, RGB, CMYK); 0 for any other."""
    if name in DEVICE_SPACES:
        return DEVICE_SPACES[str(name)]
    space = _resource(resources, "/ColorSpace", name)
    if isinstance(space, list) and space and space[0] == "/ICCBased":
        profile = space[1].get_object() if len(space) > 1 else None
        count = profile.get("/N") if isinstance(profile, dict) else None
        return int(count) if count in (1, 3, 4) else 0
    if isinstance(space, list) and space and space[0] in DEVICE_SPACES:
        return DEVICE_SPACES[str(space[0])]
    return 0


def _colour(args: list[Any], components: int) -> tuple[float, ...]:
    values = _numbers(args)
    return values if components and len(values) == components else ()


def _apply_ext_gstate(gs: _Graphics, ext: Any) -> None:
    if not isinstance(ext, dict):
        return
    if "/ca" in ext:
        gs.fill_alpha = float(ext["/ca"])
    if "/CA" in ext:
        gs.stroke_alpha = float(ext["/CA"])
    font = ext.get("/Font")
    if isinstance(font, list) and len(font) == 2:
        gs.font_size = float(font[1])


def _is_white(components: int, colour: tuple[float, ...]) -> bool:
    if not colour or components not in (1, 3, 4) or len(colour) != components:
        return False  # a colour we cannot judge is left to the rendering check
    if components == 4:
        return all(v <= 1 - WHITE for v in colour)
    return all(v >= WHITE for v in colour)


def _check_text(gs: _Graphics, tm: Matrix, page: _Page) -> None:
    """Text about to be shown: can it be seen where it is drawn?"""
    where = f"page {page.number}"
    if gs.render_mode in (3, 7):
        raise HostilePdf(
            f"{where} has invisible text (text render mode {gs.render_mode}): the text shown to the customer"
            " would not be what the page shows"
        )
    placed = _times(_times((gs.font_size * gs.horizontal_scale, 0.0, 0.0, gs.font_size, 0.0, gs.rise), tm), gs.ctm)
    height = (placed[2] ** 2 + placed[3] ** 2) ** 0.5
    width = (placed[0] ** 2 + placed[1] ** 2) ** 0.5
    if height < MIN_TEXT_HEIGHT or width < MIN_TEXT_HEIGHT / 4:
        raise HostilePdf(f"{where} has text too small to read on the page (less than {MIN_TEXT_HEIGHT:g} point)")
    x, y = placed[4], placed[5]
    for box, name in ((page.media, "media box (the paper)"), (page.crop, "crop box (what viewers show)")):
        x0, y0, x1, y1 = box
        if not (x0 - BOX_SLACK <= x <= x1 + BOX_SLACK and y0 - BOX_SLACK <= y <= y1 + BOX_SLACK):
            raise HostilePdf(f"{where} has text placed outside its {name}, where no viewer shows it")
    fills = gs.render_mode in (0, 2, 4, 6)
    strokes = gs.render_mode in (1, 2, 5, 6)
    seen_colours = []
    if fills:
        seen_colours.append((gs.fill_components, gs.fill, gs.fill_alpha))
    if strokes:
        seen_colours.append((gs.stroke_components, gs.stroke, gs.stroke_alpha))
    if all(alpha <= MIN_ALPHA for _, _, alpha in seen_colours):
        raise HostilePdf(f"{where} has transparent text that the page does not show")
    if not page.painted and all(_is_white(n, colour) for n, colour, _ in seen_colours):
        raise HostilePdf(f"{where} has white text on the white page, where nobody can read it")

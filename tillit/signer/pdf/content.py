"""What the pages draw (`inspect_page_content`): every content stream and form XObject interpreted,
and no text the reader cannot see but the text layer holds (invisible render modes, text outside
the crop or media box, white on an unpainted page, fully transparent, less than a point high)."""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from typing import Any

from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import ContentStream

from tillit.signer.pdf.sniffing import HostilePdf

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

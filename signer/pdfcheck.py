"""Refusing hostile PDFs at order start, before anything is stored, shown or signed.

A PDF the customer approves must be the PDF the customer can read: no active content that changes
what is shown (JavaScript, launch actions, XFA forms), a page tree that is a tree and has the pages
it declares, every object it refers to readable (a broken cross-reference table fails here, not in
the middle of signing), and no stream that decompresses into a bomb (the kiosk renders the text; the
signer itself only hashes, but nobody should be handed a 10 MB file that inflates to gigabytes).

Everything is bounded: objects visited, pages, nesting, and bytes inflated per stream and in total.
"""

from __future__ import annotations

import zlib
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

MAX_OBJECTS = 200_000
MAX_PAGES = 10_000
MAX_DEPTH = 64
MAX_STREAM_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024
ACTIVE_KEYS = {"/JS": "JavaScript", "/JavaScript": "JavaScript", "/XFA": "an XFA form", "/RichMedia": "rich media"}
ACTIVE_ACTIONS = {"/JavaScript": "JavaScript", "/Launch": "a launch action", "/ImportData": "an import action"}


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
            if isinstance(value, generic.StreamObject):
                inflated += _inflated_size(value, MAX_TOTAL_BYTES - inflated)
            for key in value:
                stack.append((value.raw_get(key), depth + 1))
        elif isinstance(value, generic.ArrayObject):
            for item in value:
                stack.append((item, depth + 1))


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

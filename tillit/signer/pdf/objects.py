"""A PDF's objects: a page tree that is a tree, every object readable, no decompression bomb, no
active or remote content, no embedded files, and automatic actions only within the document
(`inspect_pdf`)."""

from __future__ import annotations

import zlib
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from tillit.signer.pdf.sniffing import HostilePdf

MAX_OBJECTS = 200_000
MAX_PAGES = 10_000
MAX_DEPTH = 64
MAX_STREAM_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024
ACTIVE_KEYS = {
    "/JS": "JavaScript",
    "/JavaScript": "JavaScript",
    "/XFA": "an XFA form",
    "/RichMedia": "rich media",
    # An attachment is signed with the pages, but neither the kiosk nor the phone shows it: the
    # customer would sign a file they never saw (the catalog's name tree, or a file specification's).
    "/EmbeddedFiles": "an embedded file (an attachment, which the customer is not shown)",
    "/EF": "an embedded file (an attachment, which the customer is not shown)",
}
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


def resolve(value: Any) -> tuple[Any, tuple[int, int] | None]:
    """An object as it is (an indirect reference followed) and its object number, None for a direct one."""
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
        node, ref = resolve(raw)
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
        kids, _ = resolve(kids)
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
        value, ref = resolve(raw)
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
                triggers, _ = resolve(value.raw_get("/AA"))
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
    action, _ = resolve(action)
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

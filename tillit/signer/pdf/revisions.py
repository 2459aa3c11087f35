"""Incremental updates (`inspect_revisions`): a revision after the first %%EOF may add what a signing
workflow adds, but must not change any page's content, resources or boxes."""

from __future__ import annotations

import hashlib
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from tillit.signer.pdf.objects import MAX_DEPTH, resolve
from tillit.signer.pdf.sniffing import HostilePdf

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
        node, _ = resolve(raw)
        if not isinstance(node, generic.DictionaryObject):
            continue
        here = dict(inherited)
        for key in PAGE_KEYS_COMPARED:
            if key in node:
                here[key] = node.raw_get(key)
        if "/Kids" in node:
            kids, _ = resolve(node.raw_get("/Kids"))
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
    value, _ = resolve(raw)
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

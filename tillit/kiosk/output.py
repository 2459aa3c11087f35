"""Where the kiosk keeps what a customer signed: <folder>/<orderRef>-<document name>."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from tillit.kiosk.state import SignedFile

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_name(order_ref: str, name: str, fmt: str) -> str:
    safe = _UNSAFE.sub("_", Path(name).name).strip("._") or "document"
    if fmt == "pades" and not safe.lower().endswith(".pdf"):
        safe += ".pdf"
    if fmt == "cms":
        safe += ".p7s"
    return f"{order_ref}-{safe}"


def save_signed(folder: Path, order_ref: str, name: str, fmt: str, content: bytes) -> SignedFile:
    """Write one signed output (a PAdES PDF, or a CMS signature) atomically; returns where it is."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(order_ref, name, fmt)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(content)
    os.replace(tmp, path)
    return SignedFile(name=name, path=path, sha256=hashlib.sha256(content).hexdigest(), format=fmt)

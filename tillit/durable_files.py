"""Replacing a file so that a failed write or a crash of the machine leaves its old content or its
new one, never a mix, a truncated file or an empty one.

This module imports none of Tillit's packages, so that all of them may import it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def replace_file_durably(path: Path, data: bytes, *, new_file_mode: int = 0o600) -> None:
    """Write `data` as the whole content of `path`, on the disk when this returns.

    The bytes go to a new temporary file in the same directory (`.NAME.XXXXXXXX.partial`, with at
    most 50 characters of the name), which is flushed to the disk (fsync), given the permission bits
    of the file it replaces (`new_file_mode` when there is none) and, where the process may, its
    owner and group, then renamed over `path`; last the directory is flushed, so that the rename
    itself survives a crash. A `path` that is a symbolic link has the file it points to replaced,
    and stays a link.

    An OSError before the rename leaves `path` as it was and removes the temporary file. An OSError
    from flushing the directory comes after the rename: the new content is in place, but may not
    survive a crash."""
    target = Path(os.path.realpath(path))
    try:
        before: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        before = None
    # Enough of the name to tell whose it is; a whole long name (the limit is 255 bytes, and a
    # character may take 4) would leave no room for the rest.
    prefix = f".{target.name[:50]}."
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=".partial")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            if before is not None:  # before the mode: a change of owner may clear set-id bits
                _keep_owner(file.fileno(), before)
            os.fchmod(file.fileno(), stat.S_IMODE(before.st_mode) if before else new_file_mode)
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _flush_directory(target.parent)


def _keep_owner(descriptor: int, before: os.stat_result) -> None:
    """Give the new file the old one's owner and group when this process may (root may; others
    may only choose among their own groups), so that an administrator renewing a service's files
    does not take them from it. Otherwise the new file is this process's, as any file it makes."""
    if (before.st_uid, before.st_gid) == (os.geteuid(), os.getegid()):
        return
    try:
        os.fchown(descriptor, before.st_uid, before.st_gid)
    except PermissionError:
        with contextlib.suppress(PermissionError):
            os.fchown(descriptor, -1, before.st_gid)


def _flush_directory(directory: Path) -> None:
    """fsync a directory: a rename is on the disk only once its directory's entry is."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

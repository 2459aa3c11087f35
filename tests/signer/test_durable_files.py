"""`replace_file_durably`, which `tillit-signer archive-timestamp` writes renewed PDFs with: a write
that fails leaves the old file whole and no temporary file; one that succeeds keeps the old file's
permission bits (and owner, as root), or makes a new file 0600."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tillit.durable_files import replace_file_durably

ORIGINAL = b"%PDF-1.7\n% the signed agreement as archived\n%%EOF\n"
RENEWED = ORIGINAL + b"% an incremental update with a new document timestamp\n" * 2000  # about 100 KB

# A real file-system error in a process of its own: a file-size limit (RLIMIT_FSIZE) smaller than
# the renewed file, so that the write fails with EFBIG part of the way through, as on a full disk.
# Python ignores SIGXFSZ, so the write raises instead of killing the process.
WRITE_UNDER_A_SIZE_LIMIT = """
import resource, sys
from pathlib import Path
from tillit.durable_files import replace_file_durably
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    replace_file_durably(Path(sys.argv[1]), b"x" * (4 * limit))
except OSError as e:
    print(e.errno)
else:
    print("written")
"""


def _archived(folder: Path, mode: int) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "Lånavtale.pdf"
    path.write_bytes(ORIGINAL)
    path.chmod(mode)
    return path


def test_a_write_that_fails_on_the_file_system_leaves_the_original_whole(tmp_path: Path) -> None:
    archived = _archived(tmp_path / "archive", 0o640)
    result = subprocess.run(
        [sys.executable, "-c", WRITE_UNDER_A_SIZE_LIMIT, str(archived), "65536"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(errno.EFBIG)
    assert archived.read_bytes() == ORIGINAL
    assert stat.S_IMODE(archived.stat().st_mode) == 0o640
    assert sorted(p.name for p in archived.parent.iterdir()) == [archived.name]  # no temporary file


def test_a_flush_that_fails_leaves_the_original_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archived = _archived(tmp_path / "archive", 0o644)

    def failing_fsync(descriptor: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        replace_file_durably(archived, RENEWED)
    monkeypatch.undo()
    assert archived.read_bytes() == ORIGINAL
    assert sorted(p.name for p in archived.parent.iterdir()) == [archived.name]


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o444])
def test_the_renewed_file_keeps_the_originals_mode(tmp_path: Path, mode: int) -> None:
    archived = _archived(tmp_path / "archive", mode)
    replace_file_durably(archived, RENEWED)
    assert archived.read_bytes() == RENEWED
    assert stat.S_IMODE(archived.stat().st_mode) == mode
    assert sorted(p.name for p in archived.parent.iterdir()) == [archived.name]


def test_a_new_file_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "new.pdf"
    old_umask = os.umask(0)
    try:
        replace_file_durably(path, RENEWED)
    finally:
        os.umask(old_umask)
    assert path.read_bytes() == RENEWED
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_symbolic_link_stays_and_its_file_is_renewed(tmp_path: Path) -> None:
    archived = _archived(tmp_path / "archive", 0o640)
    link = tmp_path / "current.pdf"
    link.symlink_to(archived)
    replace_file_durably(link, RENEWED)
    assert link.is_symlink() and link.resolve() == archived.resolve()
    assert archived.read_bytes() == RENEWED
    assert stat.S_IMODE(archived.stat().st_mode) == 0o640


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may give a file to another user")
def test_root_renewing_a_services_file_leaves_it_the_services(tmp_path: Path) -> None:
    archived = _archived(tmp_path / "archive", 0o600)
    os.chown(archived, 65534, 65534)  # nobody: a service user other than root
    replace_file_durably(archived, RENEWED)
    owned = archived.stat()
    assert (owned.st_uid, owned.st_gid, stat.S_IMODE(owned.st_mode)) == (65534, 65534, 0o600)

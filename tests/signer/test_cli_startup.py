"""The administrators' commands start without pyHanko and pypdf, which only signing and checking
PDFs need (about 0.5 s of every command's start-up; docs/performance.md). The test suite runs
hundreds of such commands, so a module-level import of either in the service would cost it minutes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.daemon import make_daemon

pytestmark = pytest.mark.hsm

HEAVY = ("pyhanko", "pyhanko_certvalidator", "pypdf", "aiohttp")

# A whole command (the Signer built over the home's HSM and store), then what it imported.
COMMAND = """
import sys
from tillit.signer.cli import main
try:
    main(["kiosks", "list", "--json"])
except SystemExit as e:
    assert not e.code, e.code
print(sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1:])))
"""


def test_customers_list_imports_neither_pyhanko_nor_pypdf(tmp_path: Path) -> None:
    daemon = make_daemon(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, "-c", COMMAND, *HEAVY], env=daemon.env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"

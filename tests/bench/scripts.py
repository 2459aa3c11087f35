"""Running the benchmark scripts as a user would, in an environment free of the test session's
TILLIT_* settings (each script makes its own homes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))

from benchlib.daemon import environment_without_settings  # noqa: E402


def run_script(*command: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """`command` (a script under scripts/ and its arguments), its output captured as text."""
    return subprocess.run(
        list(command), env=environment_without_settings(), capture_output=True, text=True, timeout=timeout, check=False
    )

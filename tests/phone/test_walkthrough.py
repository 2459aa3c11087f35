"""The tester's walkthrough (README.md's, word for word), run as a shell script on a
fresh home, must end in a complete login."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tillit.phone.testkit.commands import free_port

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).parent / "data" / "walkthrough.sh"
README = Path(__file__).parents[2] / "README.md"
BIN = Path(sys.executable).parent


def test_the_walkthrough_runs_word_for_word(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("the walkthrough needs curl")
    work = tmp_path / "work"
    work.mkdir()
    port = free_port()  # the walkthrough's 8700, unless taken: the suite may run beside a demo
    script = work / "walkthrough.sh"
    script.write_text(SCRIPT.read_text().replace("8700", str(port)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILLIT_") and k != "SOFTHSM2_CONF"}
    env.update({"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "TMPDIR": str(tmp_path)})
    env["TILLIT_PORT"] = str(port)  # so `ca init` writes the port `serve` listens on (it refuses another)
    result = subprocess.run(["bash", str(script)], cwd=work, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr

    order = json.loads((work / "order.json").read_text())
    approved = json.loads(result.stdout.strip().splitlines()[-1])
    assert approved["orderRef"] == order["orderRef"] and approved["decision"] == "approve"
    assert approved["reference"] == order["reference"] and approved["kioskName"] == "Bergen sentrum"
    assert json.loads((work / "password.json").read_text())["status"] == "complete"
    collected = json.loads((work / "collect.json").read_text())
    assert collected["status"] == "complete"
    assert collected["completionData"]["customer"]["name"] == "Kari Nordmann"
    assert "Fjord-Hest-2024" not in result.stdout + result.stderr  # the password is never echoed
    assert "2580" not in result.stdout + result.stderr


def test_the_script_keeps_every_command_of_the_walkthrough() -> None:
    """Each command line of the README's walkthrough (bar the curl placeholders) appears in the script."""
    text = README.read_text()
    block = text.split("## The tester's walkthrough", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    script = SCRIPT.read_text()
    for line in block.splitlines():
        command = line.split("#", 1)[0].strip() if not line.strip().startswith("#") else ""
        if command and not command.startswith("curl ..."):
            assert command.rstrip(" \\") in script, command

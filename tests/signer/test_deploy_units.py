"""The systemd units in deploy/ against the code: each starts a command the package installs, with
settings the signer knows; the template for several instances per machine is the single unit,
hardening and all, with a home and a settings file per instance; and the per-instance settings
file docs/operations.md shows is one `tillit-signer config` accepts."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shlex
import subprocess
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest

from tests.daemon import tool
from tillit.signer.settings import OTHER_VARIABLES, SignerSettings

ROOT = Path(__file__).parents[2]
SINGLE = ROOT / "deploy" / "tillit-signer.service"
TEMPLATE = ROOT / "deploy" / "tillit-signer@.service"
UNITS = [SINGLE, TEMPLATE]


def unit_sections(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file's sections, each key with its values in order (systemd allows a key many times)."""
    sections: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    section = ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        sections[section][key].append(value)
    return sections


def environment(path: Path) -> dict[str, str]:
    """The unit's `Environment=` assignments."""
    pairs = (value.partition("=") for value in unit_sections(path)["Service"]["Environment"])
    return {name: value for name, _, value in pairs}


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_exec_start_runs_a_command_the_package_installs(unit: Path) -> None:
    [exec_start] = unit_sections(unit)["Service"]["ExecStart"]
    program, *arguments = shlex.split(exec_start)
    installed = {e.name for e in importlib.metadata.distribution("tillit").entry_points if e.group == "console_scripts"}
    assert Path(program).name in installed, f"{unit.name}: {program} is none of the package's commands {installed}"
    assert arguments == ["serve"]
    help_text = subprocess.run(
        [tool(Path(program).name), *arguments, "--help"], capture_output=True, text=True, timeout=60
    )
    assert help_text.returncode == 0, help_text.stderr


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_every_variable_the_unit_sets_is_a_setting(unit: Path) -> None:
    settings = {f"TILLIT_{key.upper()}" for key in SignerSettings.file_keys()}
    for name in environment(unit):
        assert name in settings or name in OTHER_VARIABLES, f"{unit.name}: {name} is not a setting"
    # The stop timeout leaves the daemon its grace for the requests in flight.
    [stop_timeout] = unit_sections(unit)["Service"]["TimeoutStopSec"]
    assert int(stop_timeout) > SignerSettings.model_fields["shutdown_grace_seconds"].default


def test_the_template_is_the_single_unit_with_files_per_instance() -> None:
    single, template = unit_sections(SINGLE), unit_sections(TEMPLATE)
    as_single = {
        section: {key: [_single_unit_path(value) for value in values] for key, values in keys.items()}
        for section, keys in template.items()
    }
    assert as_single["Service"] == single["Service"]  # the same command, settings and hardening
    assert as_single["Install"] == single["Install"]
    assert {k: v for k, v in template["Unit"].items() if k != "Description"} == {
        k: v for k, v in single["Unit"].items() if k != "Description"
    }
    # Each instance writes its own home only, and reads its own settings file.
    variables = environment(TEMPLATE)
    assert variables["TILLIT_HOME"] == "/var/lib/tillit/%i"
    assert variables["TILLIT_CONFIG"] == "/etc/tillit/%i.toml"
    assert template["Service"]["ReadWritePaths"] == ["/var/lib/tillit/%i"]
    assert template["Service"]["StateDirectory"] == ["tillit/%i"]


def _single_unit_path(value: str) -> str:
    """A template's value as the single unit has it: /etc/tillit/%i.toml is /etc/tillit/tillit.toml,
    /var/lib/tillit/%i is /var/lib/tillit, the state directory tillit/%i is tillit."""
    return value.replace("%i.toml", "tillit.toml").replace("/%i", "")


def test_the_documented_instance_file_is_accepted_by_tillit_signer_config(tmp_path: Path) -> None:
    """docs/operations.md's /etc/tillit/a.toml, under the template's variables for instance `a`
    (paths moved under tmp_path), read by the real `tillit-signer config`."""
    operations = (ROOT / "docs" / "operations.md").read_text()
    section = operations.split("### Several instances on one machine", 1)[1]
    [example] = re.findall(r"```toml\n(.*?)```", section, re.DOTALL)
    assert tomllib.loads(example)["port"] == 8701
    (tmp_path / "a.toml").write_text(example)
    moved = {"/var/lib/tillit/%i": str(tmp_path / "home"), "/etc/tillit/%i.toml": str(tmp_path / "a.toml")}
    variables = {name: moved.get(value, value) for name, value in environment(TEMPLATE).items()}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TILLIT_")}
    result = subprocess.run(
        [tool("tillit-signer"), "config"], env={**clean, **variables}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "is not a setting" not in result.stderr, result.stderr
    assert f"port = 8701  # {tmp_path / 'a.toml'}" in result.stdout
    assert not (tmp_path / "home").exists()  # `config` reads; systemd makes the home

"""Fixtures for the HSM layer's tests: keys on the session's token, and runners for the external tools.

Everything here talks to a real SoftHSM token (the session fixtures of tests/conftest.py); nothing
PKCS#11 is mocked. External tools (`openssl`, `pkcs11-tool`, `tillit-hsm`) run as subprocesses.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tillit.hsm.client import Hsm
from tillit.hsm.keys import Algorithm

TILLIT_HSM = Path(sys.executable).parent / "tillit-hsm"

Run = Callable[..., subprocess.CompletedProcess[str]]


def unique_label(kind: str) -> str:
    """A label no other test (of this or another module sharing the token) uses."""
    return f"test-{kind}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def hsm_keys(hsm: Hsm) -> dict[Algorithm, str]:
    """One key pair of each algorithm, generated once per session through `Hsm.generate_key`."""
    labels = {}
    for algorithm in Algorithm:
        label = unique_label(algorithm.value)
        hsm.generate_key(label, algorithm)
        labels[algorithm] = label
    return labels


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment without any TILLIT_* or SOFTHSM2_CONF, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILLIT_") and k != "SOFTHSM2_CONF"}
    env.update(extra)
    return env


def _run(
    argv: list[str], env: Mapping[str, str] | None, cwd: Path | None, timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def openssl() -> Run:
    """Run `openssl ARGS...`; returns the CompletedProcess (text mode), never raises on exit code."""

    def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return _run(["openssl", *map(str, args)], None, cwd, 30)

    return run


@pytest.fixture(scope="session")
def tillit_hsm() -> Run:
    """Run the installed `tillit-hsm ARGS...` against TILLIT_HOME=home (plus extra environment)."""
    assert TILLIT_HSM.exists(), f"{TILLIT_HSM} missing: install the project into the venv"

    def run(
        *args: str | Path, home: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return _run([str(TILLIT_HSM), *map(str, args)], clean_env(TILLIT_HOME=str(home), **(env or {})), cwd, 60)

    return run


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """Assert a subprocess succeeded, showing its output when it did not."""
    assert result.returncode == 0, (
        f"{result.args} exited {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    )
    return result


# Helpers handed to the test modules as fixtures: tests/hsm has no __init__.py (a top-level `hsm`
# test package would shadow the package under test), so the test modules cannot import this file.
@pytest.fixture(scope="session")
def check_ok() -> Callable[[subprocess.CompletedProcess[str]], subprocess.CompletedProcess[str]]:
    return ok


@pytest.fixture(scope="session")
def new_label() -> Callable[[str], str]:
    return unique_label


@pytest.fixture(scope="session")
def subprocess_env() -> Callable[..., dict[str, str]]:
    return clean_env

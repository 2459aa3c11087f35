"""Where p11-kit or PostgreSQL is missing, `scripts/bench` reports the remote-HSM and two-instance
ratios as null with the reason instead of crashing (the whole run is in test_bench.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import tests.bench.scripts  # noqa: F401 (puts scripts/ on the path for benchlib)

from benchlib.postgres import PostgresHome  # isort: skip
from benchlib.remote_hsm import missing  # isort: skip
from benchlib.report import target  # isort: skip


def test_without_postgresql_binaries_the_home_is_unavailable_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PG_BIN", str(tmp_path))  # scripts/pg-test-cluster looks for pg_ctl there
    postgres = PostgresHome(tmp_path / "home", customers=1)
    postgres.start_preparing()
    try:
        assert postgres.ready() is False
        assert postgres.unavailable == "PostgreSQL: pg-test-cluster: no PostgreSQL binaries (install postgresql)"
        directory = postgres.directory
        assert directory is not None
    finally:
        postgres.close()
    assert not directory.exists()
    assert not (tmp_path / "home").exists()  # no setup was tried


def test_without_p11_kit_the_reason_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("p11-kit") is not None:
        assert missing() is None or "p11-kit-modules" in str(missing())
    monkeypatch.setenv("PATH", str(tmp_path))
    assert missing() == "p11-kit is not installed (Debian package p11-kit; scripts/bootstrap installs it)"


def test_a_ratio_not_measured_says_why_in_its_target() -> None:
    deployments = {"two_instances_postgres": {"ratio": None, "reason": "PostgreSQL: not installed"}}
    assert target("two_instances_postgres", None, deployments) == {
        "value": None,
        "target": ">= 0.9",
        "met": None,
        "reason": "PostgreSQL: not installed",
    }
    assert target("remote_hsm", 0.95, deployments) == {"value": 0.95, "target": ">= 0.9", "met": True}
    assert target("remote_hsm", 0.85, deployments)["met"] is False

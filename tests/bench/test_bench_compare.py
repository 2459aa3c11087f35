"""`scripts/bench-compare` runs two daemon variants in alternating rounds and prints every figure.

Tiny sizes keep it working (nothing about speed is asserted); the settings of each variant are
checked to reach its daemon's environment, since a comparison of two identical daemons would pass
unnoticed otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.bench.scripts import SCRIPTS, run_script

from benchlib.daemon import Daemon, parse_settings  # isort: skip (on the path once tests.bench.scripts is)

FIGURES = (
    "orders_per_s",
    "daemon_other_cpu_ms_per_order",
    "daemon_event_loop_cpu_ms_per_order",
    "daemon_argon2_cpu_ms_per_order",
    "loadgen_cpu_ms_per_order",
    "machine_cpu_ms_per_order",
)


def test_settings_parse_and_reach_the_daemon_environment(tmp_path: Path) -> None:
    assert parse_settings(" TILLIT_WORKER_THREADS=4  TILLIT_LOG_JSON=false ") == {
        "TILLIT_WORKER_THREADS": "4",
        "TILLIT_LOG_JSON": "false",
    }
    assert parse_settings("") == {}
    for bad in ("TILLIT_WORKER_THREADS", "=4"):
        with pytest.raises(ValueError, match="is not NAME=VALUE"):
            parse_settings(bad)
    daemon = Daemon(tmp_path, "TILLIT_WORKER_THREADS=3")
    assert daemon.env["TILLIT_WORKER_THREADS"] == "3"
    assert daemon.env["TILLIT_HOME"] == str(tmp_path)
    assert "TILLIT_WORKER_THREADS" not in Daemon(tmp_path, "").env


def test_malformed_settings_are_refused_in_one_line() -> None:
    result = run_script(sys.executable, str(SCRIPTS / "bench_compare.py"), "TILLIT_WORKER_THREADS", "", timeout=60)
    assert result.returncode == 2
    assert "settings of A: 'TILLIT_WORKER_THREADS' is not NAME=VALUE" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.hsm
@pytest.mark.integration
@pytest.mark.timeout(600)
def test_tiny_comparison_prints_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "compare.json"
    tiny = ["--concurrency", "2", "--orders", "4", "--rounds", "2", "--out", str(out)]
    result = run_script(str(SCRIPTS / "bench-compare"), *tiny, "TILLIT_WORKER_THREADS=2", "", timeout=540)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout)
    assert printed == json.loads(out.read_text())
    assert printed["variants"]["A"]["settings"] == "TILLIT_WORKER_THREADS=2"
    assert printed["variants"]["B"]["settings"] == ""
    assert printed["rounds_per_variant"] == 2 and printed["machine"]["cores"] >= 1
    for name in ("A", "B"):
        variant = printed["variants"][name]
        assert variant["peak_rss_mb"] > 0
        for figure in FIGURES:
            assert variant[figure]["mean"] > 0, (name, figure, variant[figure])
            assert variant[figure]["standard_error"] >= 0, (name, figure)
        assert 0.0 <= variant["machine_steal_share"]["mean"] < 1.0
        assert variant["daemon_minor_faults_per_order"]["mean"] >= 0
    for figure in FIGURES:
        difference = printed["a_minus_b"][figure]
        assert {"mean", "standard_error"} == set(difference), figure
    # The paired difference is the difference of the means when every round is paired.
    for figure in FIGURES:
        a, b = printed["variants"]["A"][figure]["mean"], printed["variants"]["B"][figure]["mean"]
        assert printed["a_minus_b"][figure]["mean"] == pytest.approx(a - b, abs=2e-3), figure

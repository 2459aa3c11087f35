"""scripts/bench_hsm.py runs and prints its JSON (the figures themselves are not checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.hsm

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_hsm.py"


def test_bench_prints_rates_for_both_algorithms(subprocess_env: Callable[..., dict[str, str]]) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--seconds", "0.2"],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert set(figures) == {"ec_p256", "rsa_2048"}
    for name, figure in figures.items():
        assert set(figure) == {"hsm_layer_per_s", "raw_per_s", "ratio"}, name
        assert all(isinstance(v, float) and v > 0 for v in figure.values()), figure

"""`scripts/bench --quick` runs end to end with tiny sizes and prints every figure (no timing asserted).

The sizes are far too small to mean anything; this only keeps the benchmark working as the code
under it changes. The real figures come from `scripts/bench` (docs/performance.md).
"""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.bench.scripts import SCRIPTS, run_script

from benchlib.remote_hsm import missing as p11_kit_missing  # isort: skip (on the path once tests.bench.scripts is)

pytestmark = [pytest.mark.hsm, pytest.mark.integration]

SCRIPT = SCRIPTS / "bench"
TINY = [
    "--quick",
    "--customers", "20",
    "--orders", "10",
    "--concurrency", "2",
    "--push-samples", "5",
    "--scale-rounds", "1",
    "--pdf-pages", "2",
    "--paired-orders", "4",
    "--paired-rounds", "1",
]  # fmt: skip


def _get(data: dict[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("."):
        assert isinstance(value, dict) and part in value, f"{dotted}: no '{part}' in {sorted(value)}"
        value = value[part]
    return value


@pytest.mark.timeout(900)
def test_quick_bench_prints_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = run_script(str(SCRIPT), *TINY, "--out", str(out), timeout=840)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout)
    assert printed == json.loads(out.read_text())

    numbers = [
        "ceiling_orders_per_s",
        "ratios.login_pipeline_vs_ceiling",
        "ratios.sign_pipeline_vs_ceiling",
        "ratios.hsm_daemon_vs_raw",
        "ratios.pades_daemon_vs_pyhanko",
        "ratios.lookup_10k_vs_10",
        "push_ms.p50",
        "push_ms.p99",
        "peak_rss_mb",
        "pipeline.login.orders_per_s",
        "pipeline.sign.orders_per_s",
        "ceiling.all_cores_busy.orders_per_s",
        "ceiling.before.argon2id_verify_ms_all_cores_busy",
        "ceiling.before.argon2id_verify_cpu_ms_cores_oversubscribed",
        "ceiling.argon2id_ms.cores_oversubscribed",
        "ceiling.argon2id_ms.in_daemon_sign",
        "pipeline.login.daemon_argon2_cpu_ms_per_order",
        "pipeline.sign.daemon_other_cpu_ms_per_order",
        "pipeline.login.daemon_event_loop_cpu_ms_per_order",
        "pipeline.sign.daemon_event_loop_cpu_ms_per_order",
        "ceiling.adjacent.login.pipeline_vs_it",
        "ceiling.adjacent.sign.pipeline_vs_it",
        "ceiling.before_login.argon2id_verify_ms",
        "ceiling.before_sign.argon2id_verify_ms",
        "ceiling.after.argon2id_verify_ms",
    ]
    for key in numbers:
        value = _get(printed, key)
        assert isinstance(value, int | float) and value > 0, (key, value)
    for key in ("cores", "cpu", "python", "softhsm", "date"):
        assert _get(printed, f"machine.{key}"), key
    for kind in ("login", "sign"):
        assert _get(printed, f"pipeline.{kind}.errors") == 0, _get(printed, f"pipeline.{kind}")
        steps = _get(printed, f"pipeline.{kind}.steps_ms")
        for step in ("start", "push", "approve", "password", "collect"):
            assert {"p50", "p95", "p99"} <= set(steps[step]), (kind, step)
    assert "fetch_signature" in _get(printed, "pipeline.sign.steps_ms")
    for kind in ("login", "sign"):
        # The pool's CPU beside Argon2id can round to about zero on tiny sizes, but not below it.
        assert _get(printed, f"pipeline.{kind}.daemon_pool_other_cpu_ms_per_order") > -1.0
        assert 0.0 <= _get(printed, f"pipeline.{kind}.machine_steal_share") < 1.0
        assert _get(printed, f"pipeline.{kind}.daemon_minor_faults_per_order") >= 0
        assert 0.0 <= _get(printed, f"ceiling.before_{kind}.machine_steal_share") < 1.0
    assert 0.0 <= _get(printed, "push_ms.machine_steal_share") < 1.0
    assert _get(printed, "scale.large.errors") == 0 and _get(printed, "scale.small.errors") == 0
    assert _get(printed, "bench.scale_customers") == {"small": 10, "large": 20}
    _check_deployments(printed)


def _check_deployments(printed: dict[str, Any]) -> None:
    """The remote HSM and the two instances on PostgreSQL: a ratio with its goal, or null with the
    reason (p11-kit or PostgreSQL not installed)."""
    for name in ("remote_hsm", "two_instances_postgres"):
        section, target = _get(printed, name), _get(printed, f"targets.{name}")
        assert section["goal"] == target["target"] == ">= 0.9", name
        assert _get(printed, f"ratios.{name}") == section["ratio"] == target["value"], name
        if section["ratio"] is None:
            assert section["reason"] and target["reason"] == section["reason"] and target["met"] is None, name
            continue
        assert section["ratio"] > 0 and isinstance(target["met"], bool), name
        for side in ("baseline", "candidate"):
            assert section[side]["errors"] == 0, (name, section[side])
            assert section[side]["orders"] == 4 and section[side]["orders_per_s"] > 0, (name, side)
            assert section[side]["daemon_cpu_ms_per_order"] > 0, (name, side)
            assert section[side]["server_cpu_ms_per_order"] >= 0 and section[side]["machine_cpu_ms_per_order"] > 0
    remote = _get(printed, "remote_hsm")
    # Where scripts/bootstrap has installed them, a null ratio is a broken measurement.
    assert (remote["ratio"] is None) == (p11_kit_missing() is not None), remote
    if remote["ratio"] is not None:
        assert remote["kind"] == "sign" and remote["module"].endswith("p11-kit-client.so")
        assert remote["p11_kit_connections"] >= 1  # the daemon's token was behind the server
    instances = _get(printed, "two_instances_postgres")
    postgres_installed = bool(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")) or bool(os.environ.get("PG_BIN"))
    assert (instances["ratio"] is None) != postgres_installed, instances
    if instances["ratio"] is not None:
        assert instances["kind"] == "auth" and len(instances["cpu_set"]) >= 1
        assert instances["postgres_settings"] == {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
        # the reference beside it: two daemons on the same cores sharing nothing
        alone = instances["share_nothing"]
        assert alone["kind"] == "auth" and alone["ratio"] > 0 and alone["candidate"]["errors"] == 0, alone
        assert alone["candidate"]["server_cpu_ms_per_order"] == 0
        assert instances["postgres_vs_share_nothing"] == pytest.approx(instances["ratio"] / alone["ratio"], abs=0.001)

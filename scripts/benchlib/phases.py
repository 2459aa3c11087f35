"""The phases of `scripts/bench` that drive the running daemon: warm-up, push latency and the two
pipelines on one daemon (`pipeline_phases`), the first orders after restarts on a small and a large
token (`scale_rounds`), and the homes those run in (`snapshot`, `fast_dir`)."""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import load
from benchlib.daemon import Daemon
from benchlib.machine import cpu_ticks, load_average, self_cpu_seconds, steal_share
from benchlib.profiler import start_profiler, stop_profiler
from benchlib.runner import log, run_async
from benchlib.stats import median


def pipeline_phases(
    home: Path, setup: dict[str, Any], args: argparse.Namespace, measure_ceiling: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Warm-up, push latency, then the login and the sign pipeline. Right before each pipeline, with
    the daemon idle, `measure_ceiling` times the ceiling's pieces once more, so that each pipeline
    has a ceiling measured right before and (with the one after the run) right after it."""
    daemon = Daemon(home)
    startup = daemon.start()
    customers = [load.Customer.from_json(c) for c in setup["customers"]]

    async def drive() -> dict[str, Any]:
        out: dict[str, Any] = {"startup": startup}
        sessions = load.sessions(daemon.port, setup["kiosk_token"], customers)
        try:
            log("warm-up")
            for kind in ("auth", "sign"):
                await load.pipeline(sessions, kind, len(sessions))
            log(f"push latency: {args.push_samples} orders, one at a time")
            ticks = cpu_ticks()
            out["push"] = (await load.push_latency(sessions, args.push_samples)).as_dict()
            out["push"]["machine_steal_share"] = steal_share(ticks, cpu_ticks())
            for kind, name in (("auth", "login"), ("sign", "sign")):
                log(f"ceiling again, right before the {name} pipeline (daemon idle)")
                out[f"ceiling_before_{name}"] = measure_ceiling()
                log(f"pipeline {name}: {args.orders} orders, {len(sessions)} customers at once")
                (user, system), cpu_self = daemon.cpu_seconds(), self_cpu_seconds()
                threads = daemon.thread_cpu()
                ticks = cpu_ticks()
                switches, faults = daemon.context_switches(), daemon.minor_faults()
                hsm_signatures = daemon.hsm_signatures()
                profiler = start_profiler(daemon.pid, args.profile, name)
                try:
                    phase = await load.pipeline(sessions, kind, args.orders)
                finally:
                    stop_profiler(profiler)
                result = phase.as_dict()
                result["machine_steal_share"] = steal_share(ticks, cpu_ticks())
                user_after, system_after = daemon.cpu_seconds()
                result["daemon_cpu_s"] = round(user_after + system_after - user - system, 2)
                result["daemon_cpu_user_s"] = round(user_after - user, 2)
                result["daemon_cpu_system_s"] = round(system_after - system, 2)
                completed = max(1, result["orders"])
                result["daemon_cpu_ms_per_order"] = round(result["daemon_cpu_s"] * 1000 / completed, 2)
                by_thread = threads.per_order_ms(daemon.thread_cpu(), completed)
                argon2_ms = by_thread["daemon_argon2_cpu_ms_per_order"]
                result["daemon_other_cpu_ms_per_order"] = round(result["daemon_cpu_ms_per_order"] - argon2_ms, 2)
                result.update({key: round(value, 2) for key, value in by_thread.items()})
                result["daemon_context_switches_per_order"] = round(
                    (daemon.context_switches() - switches) / completed, 1
                )
                result["daemon_minor_faults_per_order"] = round((daemon.minor_faults() - faults) / completed, 1)
                # What the ceiling counts of the HSM: a login's token, a sign order's signature, its
                # timestamp token (CAdES-T) and the OCSP answers not reused from the responder's cache.
                result["hsm_signatures_per_order"] = round((daemon.hsm_signatures() - hsm_signatures) / completed, 3)
                result["loadgen_cpu_s"] = round(self_cpu_seconds() - cpu_self, 2)
                result["load_average_after"] = load_average()
                out[name] = result
                log(f"  {result['orders_per_s']} orders/s, {result['errors']} errors")
        finally:
            for session in sessions:
                await session.close()
        return out

    try:
        out = run_async(drive())
    finally:
        daemon.stop()
    out["peak_rss_kb"] = daemon.peak_rss_kb
    return out


def scale_rounds(home: Path, setup: dict[str, Any], rounds: int) -> dict[str, Any]:
    """The first sign order of each customer after a restart, `rounds` restarts."""
    customers = [load.Customer.from_json(c) for c in setup["customers"]]
    starts: list[dict[str, float]] = []
    steps: dict[str, list[float]] = {}
    errors = 0
    error_samples: list[str] = []
    peak = 0
    for _ in range(rounds):
        daemon = Daemon(home)
        starts.append(daemon.start())

        async def drive(port: int) -> load.PhaseResult:
            sessions = load.sessions(port, setup["kiosk_token"], customers)
            try:
                return await load.first_orders(sessions)
            finally:
                for session in sessions:
                    await session.close()

        try:
            phase = run_async(drive(daemon.port))
        finally:
            daemon.stop()
            peak = max(peak, daemon.peak_rss_kb)
        errors += phase.errors
        error_samples.extend(phase.error_samples)
        for name, values in phase.steps.items():
            steps.setdefault(name, []).extend(values)
    return {
        "startup": {
            "healthy_s": round(median([s["healthy_s"] for s in starts]), 3),
            "ready_s": round(median([s["ready_s"] for s in starts]), 3),
        },
        "orders": len(steps.get("total", [])),
        "errors": errors,
        **({"error_samples": error_samples[:5]} if error_samples else {}),
        "median_ms": {name: round(median(values) * 1000, 2) for name, values in steps.items()},
        "peak_rss_kb": peak,
    }


def fast_dir() -> str | None:
    """tmpfs for building the large token, when there is one."""
    shm = Path("/dev/shm")  # noqa: S108 (a private directory is made inside it)
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def snapshot(home: Path, to: Path) -> Path:
    """Copy a home (token, database, CA ledger, PIN files) and point its SoftHSM config at the copy."""
    started = time.perf_counter()
    shutil.copytree(home, to, symlinks=True)
    conf = to / "softhsm2.conf"
    conf.write_text(conf.read_text().replace(str(home), str(to)))
    log(f"  copied {home.name} to disk in {time.perf_counter() - started:.1f} s")
    return to

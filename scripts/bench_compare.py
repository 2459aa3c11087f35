#!/usr/bin/env python3
"""Two daemon variants side by side: CPU per order in alternating rounds of the same pipeline.

    scripts/bench-compare [--kind sign|auth] [--concurrency N] [--orders N] [--rounds N] [--out FILE] A B

A and B are daemon settings as `NAME=VALUE` pairs in one argument each ("" for the defaults),
for instance `scripts/bench-compare "TILLIT_WORKER_THREADS=4" ""`. Two homes are set up alike (the
same customers, production Argon2id) and a daemon started on each, both for the whole run. The
rounds then alternate A B B A A B ..., each one `--orders` orders of the pipeline that
`scripts/bench` measures, so that a host whose speed drifts within minutes drifts for both
variants alike. One JSON object goes to standard output (and --out): per variant the mean and
standard error over the rounds of each figure, and the mean paired difference A - B.

Why: a whole `scripts/bench` run against another moves its ratios by several hundredths on this
kind of host with nothing changed, which hides a change of one or two milliseconds per order
(about 2-3% of one). Paired rounds resolve about a quarter of a millisecond (docs/performance.md, "Comparing two
variants").
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import load
from benchlib.daemon import Daemon, parse_settings
from benchlib.machine import busy_seconds, cpu_ticks, machine, self_cpu_seconds, steal_share
from benchlib.runner import log, run_async, worker

FIGURES = (
    "orders_per_s",
    "daemon_other_cpu_ms_per_order",
    "daemon_event_loop_cpu_ms_per_order",
    "daemon_pool_other_cpu_ms_per_order",
    "daemon_argon2_cpu_ms_per_order",
    "loadgen_cpu_ms_per_order",
    "machine_cpu_ms_per_order",
    "machine_steal_share",
    "daemon_minor_faults_per_order",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench-compare", description=__doc__.splitlines()[0])
    parser.add_argument("a", metavar="A", help="settings of variant A: 'NAME=VALUE ...' ('' for the defaults)")
    parser.add_argument("b", metavar="B", help="settings of variant B, the same way")
    parser.add_argument("--kind", choices=("sign", "auth"), default="sign", help="order kind (sign)")
    parser.add_argument("--concurrency", type=int, default=24, help="simulated customers at once (24)")
    parser.add_argument("--orders", type=int, default=300, help="orders per round (300)")
    parser.add_argument("--rounds", type=int, default=8, help="rounds per variant (8)")
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")
    args = parser.parse_args(argv)
    for name in ("a", "b"):
        try:
            parse_settings(getattr(args, name))
        except ValueError as e:
            parser.error(f"settings of {name.upper()}: {e}")
    if min(args.concurrency, args.orders) < 1 or args.rounds < 2:
        parser.error("sizes must be positive, and there must be at least two rounds")
    return args


async def measured_round(daemon: Daemon, sessions: list[load.Session], kind: str, orders: int) -> dict[str, float]:
    threads, ticks, self_cpu, faults = daemon.thread_cpu(), cpu_ticks(), self_cpu_seconds(), daemon.minor_faults()
    result = await load.pipeline(sessions, kind, orders)
    faults = daemon.minor_faults() - faults
    loadgen_s = self_cpu_seconds() - self_cpu
    ticks_after = cpu_ticks()
    by_thread = threads.per_order_ms(daemon.thread_cpu(), result.completed)
    if result.errors or not result.completed:
        raise SystemExit(f"bench-compare: a round failed: {result.error_samples}")
    per_order = 1000 / result.completed
    return {
        "orders_per_s": result.completed / result.seconds,
        "daemon_other_cpu_ms_per_order": by_thread["daemon_event_loop_cpu_ms_per_order"]
        + by_thread["daemon_pool_other_cpu_ms_per_order"],
        **by_thread,
        "loadgen_cpu_ms_per_order": loadgen_s * per_order,
        "machine_cpu_ms_per_order": busy_seconds(ticks, ticks_after) * per_order,
        "machine_steal_share": steal_share(ticks, ticks_after),
        "daemon_minor_faults_per_order": faults / result.completed,
    }


async def alternate(
    args: argparse.Namespace,
    daemons: dict[str, Daemon],
    homes: dict[str, dict[str, Any]],
    rounds: dict[str, list[dict[str, float]]],
) -> None:
    """Warm each daemon up, then the rounds A B B A A B B A ... (each variant as often first)."""
    sessions = {}
    for name, setup in homes.items():
        customers = [load.Customer.from_json(c) for c in setup["customers"]]
        sessions[name] = load.sessions(daemons[name].port, setup["kiosk_token"], customers)
        await load.pipeline(sessions[name], args.kind, 2 * args.concurrency)
    try:
        for index in range(args.rounds * 2):
            name = "AB"[(index + index // 2) % 2]
            log(f"round {index + 1}/{args.rounds * 2}: {name}")
            rounds[name].append(await measured_round(daemons[name], sessions[name], args.kind, args.orders))
    finally:
        for each in sessions.values():
            for session in each:
                await session.close()


def summary(values: list[float]) -> dict[str, float]:
    return {
        "mean": round(statistics.fmean(values), 4),
        "standard_error": round(statistics.stdev(values) / len(values) ** 0.5, 4),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    began = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="tillit-bench-compare-"))
    daemons: dict[str, Daemon] = {}
    rounds: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
    try:
        homes: dict[str, dict[str, Any]] = {}
        for name, settings in (("A", args.a), ("B", args.b)):
            log(f"variant {name}: a home with {args.concurrency} customers; settings '{settings}'")
            homes[name] = worker("setup", tmp / name, customers=args.concurrency, seed=1)
            daemons[name] = Daemon(tmp / name, settings)
            daemons[name].start()
        run_async(alternate(args, daemons, homes, rounds))
    finally:
        for daemon in daemons.values():
            daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    variants = {
        name: {
            "settings": settings,
            "peak_rss_mb": round(daemons[name].peak_rss_kb / 1024, 1),
            **{figure: summary([r[figure] for r in rounds[name]]) for figure in FIGURES},
        }
        for name, settings in (("A", args.a), ("B", args.b))
    }
    differences = {
        figure: summary([a[figure] - b[figure] for a, b in zip(rounds["A"], rounds["B"], strict=True)])
        for figure in FIGURES
    }
    result: dict[str, Any] = {
        "bench": "compare",
        "machine": machine(),
        "kind": args.kind,
        "concurrency": args.concurrency,
        "orders_per_round": args.orders,
        "rounds_per_variant": args.rounds,
        "variants": variants,
        "a_minus_b": differences,
        "seconds": round(time.perf_counter() - began, 1),
    }
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Tillit's performance benchmark: the real daemon against this machine's own ceiling.

    scripts/bench [--quick] [--tuned] [--customers N] [--orders N] [--concurrency N] [--out FILE]

Everything runs on this machine, in throwaway homes under a temporary directory: SoftHSM tokens,
SQLite, `tillit-signer serve` (uvicorn) on 127.0.0.1. One JSON object goes to standard output
(and to --out); progress goes to standard error. Nothing here asserts a speed: the JSON carries
the figures and, under "targets", whether each met the issue's target on this run.

What is measured, in order (see docs/performance.md):
1. ceiling: one Argon2id verify (production parameters), one device-signature verify (ECDSA
   P-256, as the daemon does it) and one HSM signature, each alone on one thread;
   ceiling orders/s = cores / their sum. Measured before the daemon starts, right before each
   pipeline (daemon idle) and after them: `ceiling_orders_per_s` is from the median of the four,
   and each pipeline's ratio is against the two measured right around it (`ceiling.adjacent`).
2. HSM layer: signatures/s through `hsm.Hsm.sign_digest` against raw python-pkcs11, same key.
3. PAdES B-LTA: a 20-page PDF through the daemon's signing code against pyHanko's PKCS11Signer
   producing the same level (same TSA, same in-process revocation data).
4. push: order start -> the waiting phone's long-poll returns it, one order at a time.
5. pipeline: N concurrent simulated customers, login orders then sign orders (detached CMS).
6. scale: the first sign order of each of 10 customers after a daemon restart (no handle
   cached), with 10 customers enrolled and again with 10,000 (quick: 1,000) on the same token.
7. memory: the daemons' peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib.machine import cores, cpu_ticks, load_average, machine, self_cpu_seconds, steal_share
from benchlib.stats import median

SCRIPT = Path(__file__).resolve()
T = TypeVar("T")

TARGETS = {
    "login_pipeline_vs_ceiling": (">=", 0.7),
    # A sign order is CAdES-T with revocation values at the default level (B-LTA): a timestamp token
    # and OCSP answers built in Python beside the signature, which the ceiling counts only as HSM
    # signatures; 0.6 for that (issue 21), where B-B had 0.7.
    "sign_pipeline_vs_ceiling": (">=", 0.6),
    "hsm_daemon_vs_raw": (">=", 0.8),
    "pades_daemon_vs_pyhanko": ("<=", 1.3),  # PAdES B-LTA both ways (issue 21)
    "lookup_10k_vs_10": ("<=", 1.5),
    "push_p99_ms": ("<=", 20.0),
}
# Host tuning that is off by default (docs/performance.md): the request path on the CPU taking the
# disk's interrupts, measured on the 2-vCPU bench host. `--tuned` turns it on.
TUNED_SETTINGS = "TILLIT_PIN_REQUEST_PATH=true"


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def worker(task: str, home: Path, **arguments: Any) -> dict[str, Any]:
    """Run a bench task that touches the token in its own process (one SoftHSM home per process)."""
    from benchlib.daemon import bench_env

    home.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--worker", task, json.dumps(arguments)],
        env=bench_env(home),
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
        timeout=3600,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"bench: worker task {task} failed (exit {result.returncode})")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes; finishes within 2 minutes")
    parser.add_argument("--customers", type=int, help="customers on the large token (10000; quick 1000)")
    parser.add_argument("--orders", type=int, help="measured orders per kind in the pipeline (1500; quick 300)")
    parser.add_argument("--concurrency", type=int, default=24, help="simulated customers at once (24)")
    parser.add_argument("--push-samples", type=int, help="orders in the push measurement (300; quick 100)")
    parser.add_argument("--scale-rounds", type=int, help="daemon restarts per token size (3; quick 2)")
    parser.add_argument("--pdf-pages", type=int, default=20, help="pages of the PAdES document (20)")
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the daemon's thread holding the GIL with py-spy (pip install py-spy) during each pipeline "
        "phase, the Python work beside Argon2id and SQLite; collapsed stacks go to DIR/login.txt and DIR/sign.txt",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary homes (their paths go to stderr)")
    parser.add_argument(
        "--tuned",
        action="store_true",
        help=f"the daemons with the bench host's opt-in tuning ({TUNED_SETTINGS}) on top of TILLIT_BENCH_SETTINGS; "
        "without it they run the default configuration",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.customers = args.customers or (1000 if quick else 10000)
    args.orders = args.orders or (300 if quick else 1500)
    args.push_samples = args.push_samples or (100 if quick else 300)
    args.scale_rounds = args.scale_rounds or (2 if quick else 3)
    if min(args.customers, args.orders, args.concurrency, args.push_samples, args.scale_rounds, args.pdf_pages) < 1:
        parser.error("sizes must be positive")
    from benchlib.daemon import parse_settings

    try:
        parse_settings(os.environ.get("TILLIT_BENCH_SETTINGS", ""))
    except ValueError as e:
        parser.error(f"TILLIT_BENCH_SETTINGS: {e}")
    return args


def daemon_settings(tuned: bool) -> str:
    """The settings the daemons run with on top of their defaults: TILLIT_BENCH_SETTINGS, and with
    `tuned` the host tuning after them (the later of two values for one setting wins)."""
    chosen = os.environ.get("TILLIT_BENCH_SETTINGS", "")
    return f"{chosen} {TUNED_SETTINGS}".strip() if tuned else chosen


# -- phases ---------------------------------------------------------------------------------------


def pipeline_phases(
    home: Path, setup: dict[str, Any], args: argparse.Namespace, measure_ceiling: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Warm-up, push latency, then the login and the sign pipeline. Right before each pipeline, with
    the daemon idle, `measure_ceiling` times the ceiling's pieces once more, so that each pipeline
    has a ceiling measured right before and (with the one after the run) right after it."""
    from benchlib import load
    from benchlib.daemon import Daemon

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


def start_profiler(pid: int, directory: Path | None, name: str) -> subprocess.Popen[bytes] | None:
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("bench: --profile needs py-spy: .venv/bin/pip install py-spy")
    profiler = subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "100",
            "--threads",
            "--gil",
            "--output",
            str(directory / f"{name}.txt"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # py-spy attaches
    return profiler


def stop_profiler(profiler: subprocess.Popen[bytes] | None) -> None:
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        try:
            profiler.wait(30)
        except subprocess.TimeoutExpired:
            profiler.kill()
            profiler.wait()


def scale_rounds(home: Path, setup: dict[str, Any], rounds: int) -> dict[str, Any]:
    """The first sign order of each customer after a restart, `rounds` restarts."""
    from benchlib import load
    from benchlib.daemon import Daemon

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


def met(name: str, value: float) -> bool:
    op, target = TARGETS[name]
    return value >= target if op == ">=" else value <= target


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # Every daemon and worker of this run reads its settings from here (benchlib.daemon.bench_env).
    os.environ["TILLIT_BENCH_SETTINGS"] = daemon_settings(args.tuned)
    began = time.perf_counter()
    info = machine()
    tmp = Path(tempfile.mkdtemp(prefix="tillit-bench-"))
    if args.keep:
        log(f"homes in {tmp}")
    try:
        result = run(args, tmp, info)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    result["seconds"] = round(time.perf_counter() - began, 1)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


def run(args: argparse.Namespace, tmp: Path, info: dict[str, Any]) -> dict[str, Any]:
    n_cores = cores()
    pipeline_home = tmp / "pipeline"

    log(f"setting up a home with {args.concurrency} customers with phones")
    setup = worker("setup", pipeline_home, customers=args.concurrency, seed=1)
    first = setup["customers"][0]
    log("ceiling, HSM layer and PAdES (in-process, daemon not running)")
    micro = worker(
        "micro",
        pipeline_home,
        label=first["key_label"],
        number=first["number"],
        quick=args.quick,
        pdf_pages=args.pdf_pages,
    )

    def measure_ceiling() -> dict[str, Any]:
        ticks = cpu_ticks()
        ceiling_only = worker(
            "micro",
            pipeline_home,
            label=first["key_label"],
            number=first["number"],
            quick=True,
            pdf_pages=1,
            parts=["ceiling"],
        )
        return {**ceiling_only["ceiling"], "machine_steal_share": steal_share(ticks, cpu_ticks())}

    phases = pipeline_phases(pipeline_home, setup, args, measure_ceiling)
    log("ceiling again, after the pipeline")
    ceiling_after = measure_ceiling()

    baseline = min(10, args.customers)
    log(f"scale: {baseline} customers")
    # SoftHSM's file store writes each new object with dozens of small syscalls, which on a busy
    # shared disk takes up to 200 ms a key pair; the token is therefore built on tmpfs and each
    # snapshot (10 customers, then all) copied to a home on disk, where the daemon is measured.
    build_root = Path(tempfile.mkdtemp(prefix="tillit-bench-", dir=fast_dir()))
    try:
        build = build_root / "scale"
        scale_setup = worker("setup", build, customers=baseline, seed=2)
        labels = [c["key_label"] for c in scale_setup["customers"]]
        small_home = snapshot(build, tmp / "scale-small")
        probe_small = worker("probe", small_home, labels=labels)
        small = scale_rounds(small_home, scale_setup, args.scale_rounds)
        log(f"scale: filling the token and the store up to {args.customers} customers")
        filled = worker("bulk", build, total=args.customers, seed=3)
        large_home = snapshot(build, tmp / "scale-large")
    finally:
        shutil.rmtree(build_root, ignore_errors=True)
    probe_large = worker("probe", large_home, labels=labels)
    log(f"scale: {args.customers} customers")
    large = scale_rounds(large_home, scale_setup, args.scale_rounds)

    # -- the figures -----------------------------------------------------------------------------
    pieces = ("argon2id_verify_ms", "device_signature_verify_ms", "hsm_signature_ms")
    before_login, before_sign = phases["ceiling_before_login"], phases["ceiling_before_sign"]
    ceilings = [micro["ceiling"], before_login, before_sign, ceiling_after]

    def piece_ms(key: str, of: list[dict[str, Any]] = ceilings) -> float:
        """A piece's time: the median of its measurements in this run (all four by default, where
        one slow moment of the host must not move the ceiling; of two, their mean)."""
        return median([float(c[key]) for c in of])

    def ceiling_of(measured: list[dict[str, Any]], hsm_signatures: float = 1.0) -> float:
        """Orders/s the cores can do at all: Argon2id, the device's signature, and the HSM signatures
        an order of that kind takes (measured in its pipeline: timestamps and OCSP answers count)."""
        ms = sum(piece_ms(p, measured) for p in pieces) + (hsm_signatures - 1) * piece_ms("hsm_signature_ms", measured)
        return n_cores / (ms / 1000)

    # Each pipeline against the ceiling measured right before and right after it: the host's speed
    # drifts within minutes on a shared machine (Argon2id alone has measured 31 to 103 ms in one
    # afternoon), and a ceiling timed minutes away compares the pipeline with another machine.
    around = {"login": [before_login, before_sign], "sign": [before_sign, ceiling_after]}
    signatures_per_order = {name: max(1.0, float(phases[name]["hsm_signatures_per_order"])) for name in around}
    adjacent = {name: ceiling_of(measured, signatures_per_order[name]) for name, measured in around.items()}

    per_order_ms = sum(piece_ms(p) for p in pieces)
    ceiling = n_cores / (per_order_ms / 1000)
    # The same pieces with Argon2id timed while every core runs one: what the cores can do at all
    # when all of them verify passwords at once, as they do in the pipelines.
    busy_ms = per_order_ms - piece_ms("argon2id_verify_ms") + piece_ms("argon2id_verify_ms_all_cores_busy")
    busy_ceiling = n_cores / (busy_ms / 1000)
    login, sign = phases["login"], phases["sign"]
    hsm = micro["hsm"]
    pades = micro["pades"]

    def lookup_ms(r: dict[str, Any]) -> float:
        return float(r["median_ms"]["start"] + r["median_ms"]["password"])

    lookup_ratio = lookup_ms(large) / lookup_ms(small)
    push = phases["push"]["steps_ms"]["push"]
    ratios = {
        "login_pipeline_vs_ceiling": round(login["orders_per_s"] / adjacent["login"], 3),
        "sign_pipeline_vs_ceiling": round(sign["orders_per_s"] / adjacent["sign"], 3),
        "hsm_daemon_vs_raw": round(hsm["daemon_layer_per_s"] / hsm["raw_pkcs11_per_s"], 3),
        "pades_daemon_vs_pyhanko": round(pades["daemon_ms"] / pades["pyhanko_direct_ms"], 3),
        "lookup_10k_vs_10": round(lookup_ratio, 3),
    }
    peaks = {
        "pipeline": round(phases["peak_rss_kb"] / 1024, 1),
        "scale_small": round(small["peak_rss_kb"] / 1024, 1),
        "scale_large": round(large["peak_rss_kb"] / 1024, 1),
    }
    under_load = login["steps_ms"]["push"]
    info["load_average_at_end"] = load_average()
    return {
        "bench": {
            "mode": "quick" if args.quick else "full",
            # "" is the default configuration; the tuned variant names TILLIT_PIN_REQUEST_PATH=true.
            "daemon_settings": os.environ["TILLIT_BENCH_SETTINGS"],
            "orders_per_kind": args.orders,
            "concurrency": args.concurrency,
            "push_samples": args.push_samples,
            "scale_customers": {"small": baseline, "large": args.customers},
            "scale_rounds": args.scale_rounds,
            "note": (
                f"lookup_10k_vs_10 compares {args.customers} customers with {baseline}"
                if args.customers != 10000
                else "lookup_10k_vs_10 compares 10000 customers with 10"
            ),
        },
        "machine": info,
        "ceiling_orders_per_s": round(ceiling, 2),
        "ceiling": {
            "cores": n_cores,
            "per_order_ms": round(per_order_ms, 3),
            # HSM signatures per order, measured in each pipeline; `adjacent` counts them all.
            "hsm_signatures_per_order": signatures_per_order,
            "all_cores_busy": {
                "per_order_ms": round(busy_ms, 3),
                "orders_per_s": round(busy_ceiling, 2),
                "login_pipeline_vs_it": round(login["orders_per_s"] / busy_ceiling, 3),
                "sign_pipeline_vs_it": round(sign["orders_per_s"] / busy_ceiling, 3),
            },
            # One Argon2id verify, side by side: alone, on every core at once, on every core with
            # a thread more wanting one, and in the daemon's pipelines (CPU per order).
            "argon2id_ms": {
                "alone": round(piece_ms("argon2id_verify_ms"), 3),
                "all_cores_busy": round(piece_ms("argon2id_verify_ms_all_cores_busy"), 3),
                "cores_oversubscribed": round(piece_ms("argon2id_verify_cpu_ms_cores_oversubscribed"), 3),
                "in_daemon_login": login["daemon_argon2_cpu_ms_per_order"],
                "in_daemon_sign": sign["daemon_argon2_cpu_ms_per_order"],
            },
            # The ceilings the ratios use (measured right around each pipeline), and the pipelines
            # against the run's median ceiling (ceiling_orders_per_s) for comparison.
            "adjacent": {
                name: {
                    "orders_per_s": round(value, 2),
                    "pipeline_vs_it": round(phases[name]["orders_per_s"] / value, 3),
                }
                for name, value in adjacent.items()
            },
            "run_median": {
                "login_pipeline_vs_it": round(login["orders_per_s"] / ceiling, 3),
                "sign_pipeline_vs_it": round(sign["orders_per_s"] / ceiling, 3),
            },
            "before": micro["ceiling"],
            "before_login": before_login,
            "before_sign": before_sign,
            "after": ceiling_after,
        },
        "ratios": ratios,
        "push_ms": {
            "p50": push["p50"],
            "p95": push["p95"],
            "p99": push["p99"],
            "n": push["n"],
            "under_login_load_p50": under_load["p50"],
            "under_login_load_p99": under_load["p99"],
            "machine_steal_share": phases["push"]["machine_steal_share"],
        },
        "pipeline": {"startup": phases["startup"], "login": login, "sign": sign},
        "hsm": hsm,
        "pades": pades,
        "scale": {
            "small": small,
            "large": large,
            "filler": filled,
            "probe": {"small": probe_small, "large": probe_large},
            "measure": (
                "lookup_10k_vs_10 = (median POST /v1/sign + median POST /v1/password) with the large token over"
                " the same with the small one, each customer's first order after a daemon restart; the password"
                " step holds the key and certificate lookup, Argon2id and the CMS signature. probe: a fresh"
                " process's first signature with a key found by a token search, and after one enumeration."
            ),
        },
        "peak_rss_mb": max(peaks.values()),
        "peak_rss_mb_by_daemon": peaks,
        "targets": {
            **{
                name: {"value": ratios[name], "target": f"{op} {t}", "met": met(name, ratios[name])}
                for name, (op, t) in TARGETS.items()
                if name in ratios
            },
            "push_p99_ms": {"value": push["p99"], "target": "<= 20.0", "met": met("push_p99_ms", push["p99"])},
        },
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        from benchlib.worker import main as worker_main

        worker_main(sys.argv[2], sys.argv[3])
    else:
        main()

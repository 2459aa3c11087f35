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
6. deployments, each in alternating rounds against one daemon on the pipeline's home:
   remote_hsm, the sign pipeline with the token behind `p11-kit server` (p11-kit-client.so);
   two_instances_postgres, the login pipeline over two daemons on one PostgreSQL database.
7. scale: the first sign order of each of 10 customers after a daemon restart (no handle
   cached), with 10 customers enrolled and again with 10,000 (quick: 1,000) on the same token.
8. memory: the daemons' peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib.daemon import parse_settings
from benchlib.deployments import measure as measure_deployments
from benchlib.machine import cores, cpu_ticks, machine, steal_share
from benchlib.phases import fast_dir, pipeline_phases, scale_rounds, snapshot
from benchlib.postgres import PostgresHome
from benchlib.report import Measured, report
from benchlib.runner import log, worker

# Host tuning that is off by default (docs/performance.md): the request path on the CPU taking the
# disk's interrupts, measured on the 2-vCPU bench host. `--tuned` turns it on.
TUNED_SETTINGS = "TILLIT_PIN_REQUEST_PATH=true"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes; a few minutes")
    parser.add_argument("--customers", type=int, help="customers on the large token (10000; quick 1000)")
    parser.add_argument("--orders", type=int, help="measured orders per kind in the pipeline (1500; quick 300)")
    parser.add_argument("--concurrency", type=int, default=24, help="simulated customers at once (24)")
    parser.add_argument("--push-samples", type=int, help="orders in the push measurement (300; quick 100)")
    parser.add_argument("--scale-rounds", type=int, help="daemon restarts per token size (3; quick 2)")
    parser.add_argument("--pdf-pages", type=int, default=20, help="pages of the PAdES document (20)")
    parser.add_argument(
        "--paired-orders", type=int, help="orders per round beside the remote HSM and the two instances (300; quick 60)"
    )
    parser.add_argument("--paired-rounds", type=int, help="rounds of each deployment in those comparisons (4; quick 2)")
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
    args.paired_orders = args.paired_orders or (60 if quick else 300)
    args.paired_rounds = args.paired_rounds or (2 if quick else 4)
    sizes = (args.customers, args.orders, args.concurrency, args.push_samples, args.scale_rounds, args.pdf_pages)
    if min(*sizes, args.paired_orders, args.paired_rounds) < 1:
        parser.error("sizes must be positive")
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


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # Every daemon and worker of this run reads its settings from here (benchlib.daemon.bench_env).
    os.environ["TILLIT_BENCH_SETTINGS"] = daemon_settings(args.tuned)
    began = time.perf_counter()
    info = machine()
    tmp = Path(tempfile.mkdtemp(prefix="tillit-bench-"))
    if args.keep:
        log(f"homes in {tmp}")
    postgres = PostgresHome(tmp / "postgres-home", args.concurrency)
    try:
        result = run(args, tmp, info, postgres)
    finally:
        postgres.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    result["seconds"] = round(time.perf_counter() - began, 1)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


def run(args: argparse.Namespace, tmp: Path, info: dict[str, Any], postgres: PostgresHome) -> dict[str, Any]:
    n_cores = cores()
    pipeline_home = tmp / "pipeline"

    log(f"setting up a home with {args.concurrency} customers with phones, and one on PostgreSQL beside it")
    postgres.start_preparing()
    setup = worker("setup", pipeline_home, customers=args.concurrency, seed=1)
    postgres.ready()  # the cores are the pipeline's from here on
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
    deployments = measure_deployments(tmp, pipeline_home, setup, postgres, args)

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

    measured = Measured(
        micro=micro,
        phases=phases,
        ceiling_after=ceiling_after,
        small=small,
        large=large,
        filled=filled,
        probes={"small": probe_small, "large": probe_large},
        baseline=baseline,
        deployments=deployments,
    )
    return report(args, info, n_cores, measured)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        # Only a worker process loads the signer and the HSM module (benchlib.worker).
        from benchlib.worker import main as worker_main

        worker_main(sys.argv[2], sys.argv[3])
    else:
        main()

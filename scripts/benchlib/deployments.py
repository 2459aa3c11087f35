"""The deployments `scripts/bench` sets beside the plain one in the same run (issue 24), each in
alternating rounds (benchlib/paired.py) against one daemon on the pipeline's home (SQLite,
SoftHSM loaded in-process):

- `remote_hsm`: the sign pipeline with the daemon's token behind `p11-kit server` on a unix
  socket, reached through p11-kit-client.so, on a copy of the pipeline's home (the same customers,
  keys and database).
- `two_instances_postgres`: the login pipeline with the customers spread over two daemons sharing
  one home and one PostgreSQL database (benchlib/postgres.py: set up alike, durable like SQLite).
  Beside it, as a reference with no goal of its own (`share_nothing`), the same pipeline over two
  daemons on two copies of the pipeline's home, each on its own SQLite: two instances on these cores
  with no shared store at all. What it loses against one daemon is the cores'; what the PostgreSQL
  pair loses beyond that (`postgres_vs_share_nothing`) is the shared store's.

Every daemon, the p11-kit server and PostgreSQL inherit this process's CPU set, so the two
instances share the cores the single daemon has (`cpu_set` in the JSON). Where p11-kit or
PostgreSQL is missing the ratio is null with the reason.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from benchlib import load
from benchlib.daemon import Daemon
from benchlib.paired import Deployment, alternate
from benchlib.phases import snapshot
from benchlib.postgres import PostgresHome
from benchlib.remote_hsm import P11KitServer, missing
from benchlib.runner import log, run_async

GOAL = ">= 0.9"


def unavailable(reason: str) -> dict[str, Any]:
    log(f"  not measured: {reason}")
    return {"ratio": None, "reason": reason}


def measure(
    tmp: Path, pipeline_home: Path, setup: dict[str, Any], postgres: PostgresHome, args: argparse.Namespace
) -> dict[str, Any]:
    """Both comparisons against one daemon on the pipeline's home (no daemon may have it open when
    this starts). Every daemon starts at once, and each stops when its comparison is done."""
    customers = [load.Customer.from_json(c) for c in setup["customers"]]
    remote_reason = missing()
    server: P11KitServer | None = None
    single = Daemon(pipeline_home, log="daemon-paired.log")
    daemons = [single]
    remote: Daemon | None = None
    if remote_reason is None:
        # Copied while no daemon has it open; the copy's SoftHSM configuration points at the copy.
        remote_home = snapshot(pipeline_home, tmp / "remote-hsm")
        server = P11KitServer(remote_home, remote_home / "hsm.sock")
        remote = Daemon(remote_home, env=server.client_env(), log="daemon-remote.log")
        daemons.append(remote)
    pair = [Daemon(postgres.home, env=postgres.env, log=f"daemon-{n}.log") for n in "ab"] if postgres.ready() else []
    daemons += pair
    # Copied while no daemon has it open, as the remote HSM's copy: the same customers and kiosk.
    homes = [snapshot(pipeline_home, tmp / f"apart-{n}") for n in "ab"] if pair else []
    apart = [Daemon(home, log=f"daemon-{home.name}.log") for home in homes]
    daemons += apart

    def baseline() -> Deployment:
        sessions = load.sessions(single.port, setup["kiosk_token"], customers)
        return Deployment("one daemon, SoftHSM in-process, SQLite", [single], sessions)

    try:
        if server is not None:
            server.start()
        for daemon in daemons:
            daemon.launch()
        for daemon in daemons:
            daemon.wait_ready()
        log("remote HSM: the sign pipeline through p11-kit server against SoftHSM in-process")
        if server is None or remote is None:
            remote_result = unavailable(str(remote_reason))
        else:
            remote_result = remote_hsm(server, remote, baseline(), setup, customers, args)
            remote.stop()
            server.stop()
        log("two instances on PostgreSQL against one on SQLite: the login pipeline")
        reason = postgres.unavailable
        if pair:
            instances = two_instances(pair, postgres, baseline(), args)
            for daemon in pair:
                daemon.stop()
            instances.update(share_nothing(apart, baseline(), setup, customers, args, instances["ratio"]))
        else:
            instances = unavailable(str(reason))
    finally:
        for daemon in daemons:
            daemon.stop()
        if server is not None:
            server.stop()
    return {
        "remote_hsm": {"goal": GOAL, **remote_result},
        "two_instances_postgres": {"goal": GOAL, "cpu_set": sorted(os.sched_getaffinity(0)), **instances},
        "peak_rss_kb": single.peak_rss_kb,
    }


def remote_hsm(
    server: P11KitServer,
    daemon: Daemon,
    baseline: Deployment,
    setup: dict[str, Any],
    customers: list[load.Customer],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """The sign pipeline on `daemon`, whose token is behind `server`, against the baseline."""
    # The daemon's connections to the server: at least one, or its HSM was not behind p11-kit.
    connections = server.connections()
    candidate = Deployment(
        "one daemon, SoftHSM behind p11-kit server, SQLite",
        [daemon],
        load.sessions(daemon.port, setup["kiosk_token"], customers),
        helpers=[server.pid],
    )
    result = run_async(alternate(baseline, candidate, "sign", args.paired_orders, args.paired_rounds))
    module = server.client_env()["TILLIT_PKCS11_MODULE"]
    return {**result, "module": module, "p11_kit_connections": connections, "peak_rss_kb": daemon.sample_rss()}


def share_nothing(
    apart: list[Daemon],
    baseline: Deployment,
    setup: dict[str, Any],
    customers: list[load.Customer],
    args: argparse.Namespace,
    postgres_ratio: float | None,
) -> dict[str, Any]:
    """The login pipeline over `apart` (two copies of the pipeline's home, nothing shared) against the
    baseline, and the PostgreSQL pair's ratio (`postgres_ratio`) over this one's."""
    candidate = Deployment(
        "two daemons, each on its own SQLite (nothing shared)",
        apart,
        load.spread_sessions([d.port for d in apart], setup["kiosk_token"], customers),
    )
    log("  the same over two daemons sharing nothing, for reference")
    result = run_async(alternate(baseline, candidate, "auth", args.paired_orders, args.paired_rounds))
    alone = result["ratio"]
    return {
        "share_nothing": result,
        # What the shared store costs on top of running two instances on these cores at all.
        "postgres_vs_share_nothing": round(postgres_ratio / alone, 3) if postgres_ratio and alone else None,
    }


def two_instances(
    pair: list[Daemon], postgres: PostgresHome, baseline: Deployment, args: argparse.Namespace
) -> dict[str, Any]:
    """The login pipeline over `pair` (on the PostgreSQL home, as many customers as the baseline's,
    every other one on each daemon) against the baseline."""
    customers = [load.Customer.from_json(c) for c in postgres.setup["customers"]]
    candidate = Deployment(
        "two daemons, one PostgreSQL",
        pair,
        load.spread_sessions([d.port for d in pair], postgres.setup["kiosk_token"], customers),
        helpers=[postgres.server_pid()],
    )
    result = run_async(alternate(baseline, candidate, "auth", args.paired_orders, args.paired_rounds))
    peak = max(d.sample_rss() for d in pair)
    return {**result, "postgres_settings": postgres.settings, "peak_rss_kb": peak}

"""Two deployments of the daemon measured in alternating rounds of one pipeline.

Both deployments run for the whole measurement; the rounds go baseline, candidate, candidate,
baseline, baseline, ... (each as often first), as in `scripts/bench-compare`, so that a host whose
speed drifts within minutes drifts for both alike. A deployment's orders/s is its orders over its
rounds' seconds; the ratio is the candidate's over the baseline's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchlib import load
from benchlib.daemon import Daemon
from benchlib.machine import busy_seconds, cpu_ticks, tree_cpu_seconds
from benchlib.runner import log


@dataclass
class Deployment:
    """One way of running the daemon: its processes, the servers beside them (`helpers`: the pids
    of a p11-kit or PostgreSQL server, whose CPU counts with their forked children) and the
    simulated customers spread over the daemons."""

    name: str
    daemons: list[Daemon]
    sessions: list[load.Session]
    helpers: list[int] = field(default_factory=list)

    def cpu_seconds(self) -> tuple[float, float]:
        """(daemons, helpers) CPU seconds so far."""
        daemons = sum(sum(daemon.cpu_seconds()) for daemon in self.daemons)
        return daemons, sum(tree_cpu_seconds(pid) for pid in self.helpers)


@dataclass
class Tally:
    """A deployment's rounds added up."""

    orders: int = 0
    seconds: float = 0.0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    daemon_cpu_s: float = 0.0
    helper_cpu_s: float = 0.0
    machine_cpu_s: float = 0.0
    round_orders_per_s: list[float] = field(default_factory=list)

    @property
    def orders_per_s(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0

    def add(self, phase: load.PhaseResult, cpu: tuple[float, float], machine_cpu_s: float) -> None:
        self.orders += phase.completed
        self.seconds += phase.seconds
        self.errors += phase.errors
        self.error_samples = (self.error_samples + phase.error_samples)[:5]
        self.daemon_cpu_s += cpu[0]
        self.helper_cpu_s += cpu[1]
        self.machine_cpu_s += machine_cpu_s
        self.round_orders_per_s.append(round(phase.completed / phase.seconds, 2) if phase.seconds else 0.0)

    def as_dict(self, name: str) -> dict[str, Any]:
        return {
            "deployment": name,
            "orders": self.orders,
            "errors": self.errors,
            **({"error_samples": self.error_samples} if self.error_samples else {}),
            "orders_per_s": round(self.orders_per_s, 2),
            "round_orders_per_s": self.round_orders_per_s,
            "daemon_cpu_ms_per_order": round(self.daemon_cpu_s * 1000 / max(1, self.orders), 2),
            # the p11-kit or PostgreSQL server's processes; 0 where there is none
            "server_cpu_ms_per_order": round(self.helper_cpu_s * 1000 / max(1, self.orders), 2),
            # every core's busy time, the load generator's and anything else on the host included
            "machine_cpu_ms_per_order": round(self.machine_cpu_s * 1000 / max(1, self.orders), 2),
        }


async def alternate(baseline: Deployment, candidate: Deployment, kind: str, orders: int, rounds: int) -> dict[str, Any]:
    """Warm both up, then `rounds` rounds of `orders` orders of `kind` each, alternating; closes the
    sessions when done. The tallies of both and candidate/baseline in orders/s."""
    tallies = {baseline.name: Tally(), candidate.name: Tally()}
    try:
        for deployment in (baseline, candidate):
            await load.pipeline(deployment.sessions, kind, 2 * len(deployment.sessions))
        for index in range(rounds * 2):
            deployment = (baseline, candidate)[(index + index // 2) % 2]
            log(f"  round {index + 1}/{rounds * 2}: {deployment.name}")
            (daemons, helpers), ticks = deployment.cpu_seconds(), cpu_ticks()
            phase = await load.pipeline(deployment.sessions, kind, orders)
            daemons_after, helpers_after = deployment.cpu_seconds()
            spent = (daemons_after - daemons, helpers_after - helpers)
            tallies[deployment.name].add(phase, spent, busy_seconds(ticks, cpu_ticks()))
    finally:
        for deployment in (baseline, candidate):
            for session in deployment.sessions:
                await session.close()
    base, cand = tallies[baseline.name], tallies[candidate.name]
    return {
        "kind": kind,
        "orders_per_round": orders,
        "rounds_each": rounds,
        "baseline": base.as_dict(baseline.name),
        "candidate": cand.as_dict(candidate.name),
        "ratio": round(cand.orders_per_s / base.orders_per_s, 3) if base.orders_per_s else None,
    }

"""The real daemon, `tillit-signer serve`, as a subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchlib.machine import (
    proc_context_switches,
    proc_cpu_split,
    proc_minor_faults,
    proc_status,
    proc_thread_cpu_split,
)

BIN = Path(sys.executable).parent


def parse_settings(text: str) -> dict[str, str]:
    """`NAME=VALUE NAME=VALUE` (as in TILLIT_BENCH_SETTINGS) as a dict; ValueError names a bad item."""
    items = {}
    for item in text.split():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"'{item}' is not NAME=VALUE")
        items[name] = value
    return items


def environment_without_settings() -> dict[str, str]:
    """This process's environment without any TILLIT_* setting or SOFTHSM2_CONF, so that nothing of
    the caller's own home reaches a benchmark."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TILLIT_") and k != "SOFTHSM2_CONF"}


def bench_env(home: Path, settings: str | None = None) -> dict[str, str]:
    """This environment without any TILLIT_* or SOFTHSM2_CONF, for one home: production Argon2id
    parameters and every other setting at its default but the rate limits. `settings` (by default
    TILLIT_BENCH_SETTINGS) are `NAME=VALUE` pairs set on top, for the daemons only."""
    env = environment_without_settings()
    env.update(
        {
            "TILLIT_HOME": str(home),
            "TILLIT_ALLOW_TEST_NUMBERS": "1",
            # The rate limits stay on (their cost is part of the path) but far above what a few
            # dozen simulated customers on one kiosk token start in a minute.
            "TILLIT_RATE_ORDERS_PER_NUMBER": "1000000",
            "TILLIT_RATE_ORDERS_PER_KIOSK": "1000000",
            # One public URL for the home's CA and every daemon on it, whatever free port each
            # listens on (`serve` refuses one unlike its CA's); nothing here fetches CRLs or OCSP.
            "TILLIT_PUBLIC_URL": "http://127.0.0.1:8700",
        }
    )
    # TILLIT_BENCH_SETTINGS="TILLIT_WORKER_THREADS=4 ...": settings to try, for the daemons only.
    env.update(parse_settings(os.environ.get("TILLIT_BENCH_SETTINGS", "") if settings is None else settings))
    return env


@dataclass(frozen=True)
class ThreadCpu:
    """The daemon's CPU seconds so far: its event loop's thread, its other threads (the pool), and
    of those Argon2id (the daemon's own count)."""

    loop_s: float
    pool_s: float
    argon2_s: float

    def per_order_ms(self, later: ThreadCpu, orders: int) -> dict[str, float]:
        """CPU per order between this reading and a later one, by where it went: Argon2id, the event
        loop (HTTP, the reads answered on the loop) and the pool beside Argon2id (write transactions,
        signature checks, the HSM). Not rounded."""
        per_order = 1000 / max(1, orders)
        argon2 = later.argon2_s - self.argon2_s
        return {
            "daemon_argon2_cpu_ms_per_order": argon2 * per_order,
            "daemon_event_loop_cpu_ms_per_order": (later.loop_s - self.loop_s) * per_order,
            "daemon_pool_other_cpu_ms_per_order": (later.pool_s - self.pool_s - argon2) * per_order,
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    """`tillit-signer serve` on `home` with the bench's settings (`settings` as in bench_env) and
    `env` on top (a database URL, another PKCS#11 module); its output goes to `home/log`."""

    def __init__(
        self, home: Path, settings: str | None = None, env: dict[str, str] | None = None, log: str = "daemon.log"
    ) -> None:
        self.home = home
        self.port = free_port()
        self.env = {**bench_env(home, settings), **(env or {})}
        self.env["TILLIT_PORT"] = str(self.port)
        self.log = home / log
        self.process: subprocess.Popen[bytes] | None = None
        self.launched = 0.0
        self.peak_rss_kb = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 120) -> dict[str, float]:
        """Start and wait until /healthz answers 200 and, when the daemon reports a key index,
        until it is loaded. Returns the seconds to each."""
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting for it (`wait_ready` waits), so that several daemons
        can start at once."""
        self.launched = time.perf_counter()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "tillit-signer"), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = 120) -> dict[str, float]:
        """Wait until the launched daemon is ready (see `start`); the seconds since its launch."""
        assert self.process is not None
        started = self.launched
        healthy: float | None = None
        deadline = started + timeout
        with httpx.Client(timeout=2) as client:
            while time.perf_counter() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the daemon exited: {self.log.read_text()[-2000:]}")
                try:
                    response = client.get(self.url + "/healthz")
                except httpx.HTTPError:
                    time.sleep(0.02)
                    continue
                if response.status_code == 200:
                    if healthy is None:
                        healthy = time.perf_counter() - started
                    report: dict[str, Any] = response.json()
                    if report.get("keyIndex", "ready") == "ready":
                        return {"healthy_s": round(healthy, 3), "ready_s": round(time.perf_counter() - started, 3)}
                time.sleep(0.02)
        raise RuntimeError("the daemon did not become ready")

    def sample_rss(self) -> int:
        if self.process is not None:
            self.peak_rss_kb = max(self.peak_rss_kb, proc_status(self.process.pid, "VmHWM") or 0)
        return self.peak_rss_kb

    def cpu_seconds(self) -> tuple[float, float]:
        """(user, system) CPU seconds so far."""
        return proc_cpu_split(self.pid)

    def thread_cpu(self) -> ThreadCpu:
        """CPU seconds so far, by thread, with Argon2id's share of the pool."""
        loop, pool = proc_thread_cpu_split(self.pid)
        return ThreadCpu(loop, pool, self.argon2_cpu_seconds())

    def context_switches(self) -> int:
        return proc_context_switches(self.pid)

    def minor_faults(self) -> int:
        return proc_minor_faults(self.pid)

    def argon2_cpu_seconds(self) -> float:
        """The daemon's own count of CPU time spent in Argon2id (`tillit_argon2_cpu_seconds_total`)."""
        text = httpx.get(self.url + "/metrics", timeout=10).text
        for line in text.splitlines():
            if line.startswith("tillit_argon2_cpu_seconds_total "):
                return float(line.split()[1])
        raise RuntimeError("the daemon's /metrics has no tillit_argon2_cpu_seconds_total")

    def hsm_signatures(self) -> float:
        """Signatures the daemon has asked the token for (`tillit_hsm_signatures_total`): at B-LTA a
        sign order takes the customer's signature, its timestamp token and now and then an OCSP answer."""
        text = httpx.get(self.url + "/metrics", timeout=10).text
        for line in text.splitlines():
            if line.startswith("tillit_hsm_signatures_total "):
                return float(line.split()[1])
        raise RuntimeError("the daemon's /metrics has no tillit_hsm_signatures_total")

    def stop(self) -> None:
        if self.process is None:
            return
        self.sample_rss()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

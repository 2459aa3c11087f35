"""A throwaway PostgreSQL cluster and a home on it, for the two instances `scripts/bench` runs.

`scripts/pg-test-cluster` builds a cluster that starts fast and may lose data (fsync,
synchronous_commit and full_page_writes off). The daemons' SQLite writes with `synchronous=FULL`,
so before any measurement the bench turns all three on again (ALTER SYSTEM and a reload): a commit
on either side is on disk when the daemon answers.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from benchlib.runner import worker

CLUSTER_SCRIPT = Path(__file__).resolve().parents[1] / "pg-test-cluster"
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


class ClusterUnavailable(Exception):
    """PostgreSQL is not installed or the cluster did not start; the message says which."""


def _cluster(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLUSTER_SCRIPT), *argv], capture_output=True, text=True, timeout=120, check=False)


class PostgresHome:
    """A cluster in a directory of its own and a home (`home`) set up on it like the pipeline's:
    the same number of customers with phones. `start_preparing` does that on a thread, while the
    pipeline's home is set up (nothing is measured then); `close` stops the cluster and removes it."""

    def __init__(self, home: Path, customers: int) -> None:
        self.home = home
        self.customers = customers
        self.directory: Path | None = None
        self.url = ""
        self.settings: dict[str, str] = {}
        self.setup: dict[str, Any] = {}
        self.unavailable: str | None = None  # why there is no cluster
        self.failure: BaseException | None = None  # what went wrong after it started
        self._preparing = threading.Thread(target=self._prepare, name="postgres-home")

    @property
    def env(self) -> dict[str, str]:
        return {"TILLIT_DATABASE_URL": self.url}

    def start_preparing(self) -> None:
        self._preparing.start()

    def _prepare(self) -> None:
        try:
            self.url = self._start()
            self.settings = self._make_durable()
            self.setup = worker("setup", self.home, env=self.env, customers=self.customers, seed=1)
        except ClusterUnavailable as e:
            self.unavailable = f"PostgreSQL: {e}"
        except BaseException as e:  # re-raised on the main thread by `ready`
            self.failure = e

    def ready(self) -> bool:
        """Wait for the home; False when PostgreSQL is missing (`unavailable` says why)."""
        self._preparing.join()
        if self.failure is not None:
            raise self.failure
        return self.unavailable is None

    def server_pid(self) -> int:
        """The cluster's postmaster, parent of every server process (postmaster.pid's first line)."""
        assert self.directory is not None
        return int((self.directory / "data" / "postmaster.pid").read_text().split()[0])

    def _start(self) -> str:
        # Directly in the system's temporary directory: run as root, the script hands the directory to
        # the `postgres` user, who must also be able to reach it (the bench's own homes are 0700).
        self.directory = Path(tempfile.mkdtemp(prefix="tillit-bench-pg-"))
        started = _cluster("start", str(self.directory))
        if started.returncode != 0:
            raise ClusterUnavailable((started.stderr.strip().splitlines() or ["pg-test-cluster failed"])[-1])
        return started.stdout.strip()

    def _make_durable(self) -> dict[str, str]:
        """Turn the cluster's durability back on; what the server reports afterwards."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            for name, value in DURABLE.items():
                conn.execute(f"ALTER SYSTEM SET {name} = {value}")  # the constants above, never input
            conn.execute("SELECT pg_reload_conf()")
        # A connection started after the server has read its configuration again sees the new values.
        deadline = time.monotonic() + 10
        while True:
            with psycopg.connect(self.url) as conn:
                shown = {name: str(conn.execute(f"SHOW {name}").fetchone()[0]) for name in DURABLE}  # type: ignore[index]
            if shown == DURABLE or time.monotonic() > deadline:
                return shown
            time.sleep(0.05)

    def close(self) -> None:
        if self._preparing.is_alive():
            self._preparing.join()
        if self.directory is not None:
            _cluster("stop", str(self.directory))  # stops the server at once and removes the directory
            # ... unless the script found no PostgreSQL to stop it with.
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

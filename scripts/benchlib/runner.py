"""How the bench scripts run things: progress lines, an event loop, and worker tasks in processes
of their own (one SoftHSM home per process, see benchlib/worker.py)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from benchlib.daemon import bench_env

# The worker tasks start as `bench.py --worker TASK JSON`.
BENCH_SCRIPT = Path(__file__).resolve().parents[1] / "bench.py"
T = TypeVar("T")


def log(message: str, prefix: str = "bench") -> None:
    print(f"{prefix}: {message}", file=sys.stderr, flush=True)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on uvloop when it is installed (the daemon runs on it too), else on asyncio's loop."""
    try:
        import uvloop  # optional: the load generator is cheaper on it
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def worker(task: str, home: Path, env: dict[str, str] | None = None, **arguments: Any) -> dict[str, Any]:
    """Run a bench task that touches the token in its own process (one SoftHSM home per process);
    `env` is set on top of the home's bench environment (a database URL, say)."""
    home.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, str(BENCH_SCRIPT), "--worker", task, json.dumps(arguments)],
        env={**bench_env(home), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
        timeout=3600,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"bench: worker task {task} failed (exit {result.returncode})")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))

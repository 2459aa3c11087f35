"""What the run ran on, and what the kernel says about a process (CPU time, peak RSS)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path


def cores() -> int:
    return len(os.sched_getaffinity(0))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def softhsm_version() -> str:
    try:
        out = subprocess.run(["softhsm2-util", "--version"], capture_output=True, text=True, timeout=10, check=False)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, object]:
    import sqlite3

    return {
        "cores": cores(),
        "cpu": cpu_model(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "softhsm": softhsm_version(),
        "sqlite": sqlite3.sqlite_version,
        "kernel": platform.release(),
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "load_average_at_start": load_average(),
    }


def proc_status(pid: int, field: str) -> int | None:
    """A `kB` field of /proc/PID/status (VmHWM, VmRSS) in kB, or None when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (its threads included)."""
    return sum(proc_cpu_split(pid))


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds so far of a process and its live descendants (a server and the
    processes it forked per connection); 0 for what is gone."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return proc_cpu_seconds(pid) + sum(tree_cpu_seconds(int(child)) for child in children)


def _stat_fields(stat: Path) -> list[str]:
    """The fields of a /proc `stat` file after the command name (field 3, the state, first): the
    name is in parentheses and may itself hold spaces and ")"."""
    return stat.read_text().rsplit(")", 1)[1].split()


def _stat_cpu_split(stat: Path) -> tuple[float, float]:
    """(user, system) CPU seconds from a /proc `stat` file (a process's or one thread's), or
    zeros when it is gone."""
    try:
        fields = _stat_fields(stat)
        ticks = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / ticks, int(fields[12]) / ticks
    except (OSError, ValueError, IndexError):
        return 0.0, 0.0


def proc_minor_faults(pid: int) -> int:
    """Minor page faults of a process so far (its threads included), 0 when it is gone: each is a
    page the kernel had to hand it (and zero) afresh."""
    try:
        return int(_stat_fields(Path(f"/proc/{pid}/stat"))[7])
    except (OSError, ValueError, IndexError):
        return 0


def proc_cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds a process has used so far (its threads included)."""
    return _stat_cpu_split(Path(f"/proc/{pid}/stat"))


def cpu_ticks() -> list[int]:
    """The machine's CPU time so far by kind, in ticks: /proc/stat's first line (user, nice,
    system, idle, iowait, irq, softirq, steal)."""
    try:
        return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return [0] * 8


def steal_share(before: list[int], after: list[int]) -> float:
    """The share of the machine's CPU time between two `cpu_ticks()` that the hypervisor ran
    something else on our virtual cores (steal): time the cores were not ours to measure."""
    spent = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(spent)
    return round(spent[7] / total, 4) if total > 0 else 0.0


def busy_seconds(before: list[int], after: list[int]) -> float:
    """CPU seconds the machine's cores spent working between two `cpu_ticks()`: everything but
    idle, waiting for I/O and steal."""
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return (sum(spent) - spent[3] - spent[4] - spent[7]) / os.sysconf("SC_CLK_TCK")


def _thread_cpu_seconds(task: Path) -> float:
    """A thread's CPU seconds so far: the scheduler's own count, to the nanosecond (`schedstat`),
    where the kernel has it; else user + system in clock ticks of 10 ms, which a tiny bench round's
    event loop can take less than."""
    try:
        return int((task / "schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return sum(_stat_cpu_split(task / "stat"))


def proc_thread_cpu_split(pid: int) -> tuple[float, float]:
    """(main thread, all other threads) CPU seconds so far: for the daemon, its event loop and the
    rest (the worker pool, where Argon2id, SQLite writes and the HSM run). A thread that ends
    between two readings takes its CPU with it; the daemon's pool threads live as long as it."""
    main = others = 0.0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0, 0.0
    for task in tasks:
        seconds = _thread_cpu_seconds(task)
        if task.name == str(pid):
            main += seconds
        else:
            others += seconds
    return main, others


def proc_context_switches(pid: int) -> int:
    """Voluntary and involuntary context switches of all of a process's threads so far."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for line in (task / "status").read_text().splitlines():
                if "ctxt_switches:" in line:
                    total += int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass  # a thread that ended while being read: its switches are lost, the rest counted
    return total


def self_cpu_seconds() -> float:
    """This process's CPU so far (the load generator's), to the nanosecond: `os.times()` counts in
    clock ticks of 10 ms, more than a tiny round's whole load generator takes."""
    return time.process_time()

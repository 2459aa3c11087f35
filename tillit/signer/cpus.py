"""Which CPUs the daemon's threads run on: its request path's Python on one, Argon2id on all.

Under load, every request hands work and Python's GIL back and forth between the event loop and
the worker threads many times (each SQLite statement and each hop to the pool lets go of the GIL and
takes it back). Spread over several CPUs, each hand-over wakes a thread on another CPU: an
inter-processor interrupt, a cold cache, and on a virtual machine an exit to the hypervisor. On one
CPU they stay local. Only one of those threads runs Python at a time anyway, so one CPU is what
they can use; Argon2id, which runs without the GIL, keeps every CPU. On the 2-core bench host
that did 7% more sign orders a second for 1.7 ms less CPU per order (docs/performance.md). It is
host tuning, opt-in: the daemon pins only with the setting `pin_request_path` on (off by default).
"""

from __future__ import annotations

import os

_AFFINITY = hasattr(os, "sched_setaffinity")  # Linux; elsewhere nothing is pinned
# Taken at import, before any thread is pinned: the CPUs the process was started with (taskset,
# systemd's CPUAffinity= or a container's cpuset are respected).
PROCESS_CPUS: frozenset[int] = (
    frozenset(os.sched_getaffinity(0)) if _AFFINITY else frozenset(range(os.cpu_count() or 1))
)


def device_interrupt_cpu(interrupts: str, cpus: frozenset[int]) -> int | None:
    """Of `cpus`, the one that has taken the most device interrupts, from the text of
    /proc/interrupts (numbered lines only: the timer, rescheduling and other CPU-to-CPU interrupts
    have names); None when none of them took any."""
    lines = interrupts.splitlines()
    if not lines:
        return None
    columns = [int(name[3:]) for name in lines[0].split() if name.startswith("CPU") and name[3:].isdigit()]
    taken = dict.fromkeys(columns, 0)
    for line in lines[1:]:
        irq, _, counts = line.partition(":")
        if not irq.strip().isdigit():
            continue
        for cpu, count in zip(columns, counts.split(), strict=False):
            if count.isdigit():
                taken[cpu] += int(count)
    candidates = [(count, cpu) for cpu, count in taken.items() if cpu in cpus and count > 0]
    return max(candidates)[1] if candidates else None


def pin_request_path() -> int | None:
    """Pin the calling thread, and every thread it starts from now on, to one of the process's CPUs;
    the CPU, or None where there is nothing to choose (one CPU, or no affinity on this system).

    The CPU is the one that takes the machine's device interrupts, where there is one: the disk's
    completions wake the request path's threads (every commit is flushed), and on their own CPU that
    needs no inter-processor interrupt, while Argon2id on the others is not interrupted. On the
    bench host, which routes its disk's interrupts to one CPU, that did 1.5% more sign orders a second
    than the other CPU. Else instances started side by side pick by their process id."""
    cpus = sorted(PROCESS_CPUS)
    if not _AFFINITY or len(cpus) < 2:
        return None
    try:
        with open("/proc/interrupts", encoding="ascii", errors="replace") as table:
            cpu = device_interrupt_cpu(table.read(), PROCESS_CPUS)
    except OSError:
        cpu = None
    if cpu is None:
        cpu = cpus[os.getpid() % len(cpus)]
    os.sched_setaffinity(0, {cpu})
    return cpu


def unpin() -> None:
    """Let the calling thread run on every CPU of the process again (Argon2id's threads, which a
    pinned thread starts)."""
    if _AFFINITY and len(PROCESS_CPUS) > 1:
        os.sched_setaffinity(0, PROCESS_CPUS)

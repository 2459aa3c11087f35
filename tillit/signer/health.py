"""Health checks of the HSM and the store that answer within a bound whatever those do.

A PKCS#11 or psycopg call cannot be interrupted from Python: a frozen database or a hung HSM keeps
the calling thread until it answers. So each check runs on a thread of its own (`SingleFlight`), at
most one of each kind at a time per process, and callers wait for it only up to `HEALTH_SECONDS`;
past that they report "did not answer". A request arriving while a check is still running waits on
that same run instead of starting another. When a stuck run ends at last, the next request starts
a fresh one, and the late end is logged with its outcome.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from tillit.hsm.client import Hsm
from tillit.signer.store.base import Store

T = TypeVar("T")

# /healthz (and a /metrics scrape) waits this long for each check: a load balancer's health check
# must not hang on the store or the HSM.
HEALTH_SECONDS = 2.0

log = logging.getLogger("tillit.health")


def one_line(e: BaseException) -> str:
    """An exception's message on one line (a driver's can be several), at most 200 characters."""
    return " ".join(str(e).split())[:200] or type(e).__name__


class SingleFlight(Generic[T]):
    """Runs `work` on a daemon thread of its own, never two runs at a time: `start()` while a run is
    under way returns that run's future. A run that ends after `slow_after` seconds, when its
    callers have stopped waiting, is logged with its outcome.

    The thread is started once and serves every run: a store keeps a connection per thread that
    reads (SqliteStore.read), so a thread per run would leave a connection behind each time."""

    def __init__(self, what: str, work: Callable[[], T], slow_after: float = HEALTH_SECONDS) -> None:
        """`what` names the work in the thread's name and in the log line of a late run."""
        self.what = what
        self._work = work
        self._slow_after = slow_after
        self._lock = threading.Lock()
        self._running: concurrent.futures.Future[T] | None = None
        self._runs: queue.SimpleQueue[concurrent.futures.Future[T]] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None

    def start(self) -> concurrent.futures.Future[T]:
        with self._lock:
            if self._running is None:
                running: concurrent.futures.Future[T] = concurrent.futures.Future()
                running.set_running_or_notify_cancel()  # a waiter that gives up must not cancel it
                self._running = running
                if self._worker is None:
                    # A daemon thread: one stuck in the HSM or the database must not hold up the exit.
                    self._worker = threading.Thread(target=self._serve, name=self.what, daemon=True)
                    self._worker.start()
                self._runs.put(running)
            return self._running

    def _serve(self) -> None:
        while True:
            self._run(self._runs.get())

    def _run(self, future: concurrent.futures.Future[T]) -> None:
        started = time.monotonic()
        try:
            value = self._work()
        except Exception as e:
            self._ended(started, one_line(e))
            future.set_exception(e)
        else:
            self._ended(started, "ok")
            future.set_result(value)

    def _ended(self, started: float, outcome: str) -> None:
        # Cleared before the future is resolved: a caller woken by it that starts again gets a new run.
        with self._lock:
            self._running = None
        seconds = time.monotonic() - started
        if seconds > self._slow_after:
            log.warning(
                "%s ended after %.1f s: %s",
                self.what,
                seconds,
                outcome,
                extra={"tillit_event": "health.late_answer", "tillit_seconds": round(seconds, 1)},
            )


def wait(futures: Iterable[concurrent.futures.Future[Any]], seconds: float) -> None:
    """Block until every future is done or `seconds` have passed."""
    concurrent.futures.wait(list(futures), timeout=seconds)


async def wait_async(futures: Iterable[concurrent.futures.Future[Any]], seconds: float) -> None:
    """Wait, without holding a thread, until every future is done or `seconds` have passed. The
    futures themselves are left as they are: a run that has not ended goes on."""
    waiting = [asyncio.wrap_future(f) for f in futures]
    if not waiting:
        return
    await asyncio.wait(waiting, timeout=seconds)
    # The caller reads the outcomes from `futures`; drop the asyncio copies quietly, else an error
    # that nobody read from one is logged as "Future exception was never retrieved". Cancelling a
    # copy leaves its run alone (a running concurrent future cannot be cancelled).
    for copy in waiting:
        if not copy.done():
            copy.cancel()
        elif not copy.cancelled():
            copy.exception()


def state(future: concurrent.futures.Future[Any], what: str, seconds: float) -> str:
    """`ok`, or `unavailable: ` and why: the check's error, or that it has not answered in time."""
    if not future.done():
        return f"unavailable: {what} did not answer within {seconds:g} s"
    error = future.exception()
    return "ok" if error is None else f"unavailable: {one_line(error)}"


class Health:
    """This process's checks of the HSM (a ping) and the store (a read), each bounded in time."""

    def __init__(self, store: Store, hsm: Hsm, seconds: float = HEALTH_SECONDS) -> None:
        self.hsm = hsm
        self.seconds = seconds
        self.hsm_check: SingleFlight[None] = SingleFlight("the health check of the HSM", hsm.ping, seconds)
        self.store_check: SingleFlight[None] = SingleFlight(
            "the health check of the database", lambda: store.check(timeout=seconds), seconds
        )

    def start(self) -> tuple[concurrent.futures.Future[None], concurrent.futures.Future[None]]:
        """The HSM's and the store's checks, started unless one is already running."""
        return self.hsm_check.start(), self.store_check.start()

    def report(self, hsm: concurrent.futures.Future[None], store: concurrent.futures.Future[None]) -> dict[str, Any]:
        """What /healthz answers: `status` `ok` or `unavailable`, and each part's state with why."""
        report: dict[str, Any] = {"status": "ok", "hsm": state(hsm, "the HSM", self.seconds)}
        if report["hsm"] == "ok":
            report["keyIndex"] = self.hsm.index_state  # off, loading, ready or failed
        report["store"] = state(store, "the database", self.seconds)
        if report["hsm"] != "ok" or report["store"] != "ok":
            report["status"] = "unavailable"
        return report

    async def check(self) -> dict[str, Any]:
        """Run (or join) both checks and report within `seconds`, without holding a worker thread."""
        hsm, store = self.start()
        await wait_async([hsm, store], self.seconds)
        return self.report(hsm, store)

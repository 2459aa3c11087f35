"""Waking long-polling phones the moment an order is created for their device (no polling sleeps).

One process: `Notifier.notify(device_id)` wakes that device's long-polls in this process. Several
instances over one PostgreSQL database: the store attaches a publisher (`attach`), so each notify is
also sent as `NOTIFY tillit_push, '<device_id>'`, and every instance's listener thread hands what it
hears to its own notifier with `notify_local` (see `signer.store.postgres`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import defaultdict
from collections.abc import Callable

log = logging.getLogger("tillit.push")


class Notifier:
    """Thread-safe: `notify` may be called from worker threads, waiters live on event loops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = defaultdict(set)
        self._publisher: Callable[[str], None] | None = None
        # Set once the server stops: long-polls answer what they have at once instead of waiting.
        self.draining = False

    def attach(self, publisher: Callable[[str], None] | None) -> None:
        """Also send every `notify` to other processes through `publisher` (None: stop)."""
        self._publisher = publisher

    def subscribe(self, key: str) -> tuple[asyncio.AbstractEventLoop, asyncio.Event]:
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters[key].add(waiter)
        return waiter

    def unsubscribe(self, key: str, waiter: tuple[asyncio.AbstractEventLoop, asyncio.Event]) -> None:
        with self._lock:
            waiters = self._waiters.get(key)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[key]

    def notify(self, key: str) -> None:
        """Wake `key`'s waiters here at once, and in the other instances when a publisher is attached.

        Called after the change is committed. A failed publish is logged, not raised: the change
        stands, and a phone on another instance still finds it on its next poll."""
        self.notify_local(key)
        publisher = self._publisher
        if publisher is not None:
            try:
                publisher(key)
            except Exception as e:  # the database is unreachable just now
                log.warning("could not publish a wake-up to the other instances: %s", e)

    def notify_local(self, key: str) -> None:
        """Wake `key`'s waiters in this process only."""
        with self._lock:
            waiters = list(self._waiters.get(key, ()))
        self._wake(waiters)

    def notify_all(self) -> None:
        """Wake every waiter (after missing notifications, e.g. while reconnecting to the database)."""
        with self._lock:
            waiters = [w for ws in self._waiters.values() for w in ws]
        self._wake(waiters)

    def drain(self) -> None:
        """The server is stopping: wake every waiter, and let no long-poll wait from now on (each
        answers what it has), so that the server's shutdown does not wait out the phones' waits."""
        self.draining = True
        self.notify_all()

    @staticmethod
    def _wake(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]) -> None:
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # the waiter's loop has closed
                loop.call_soon_threadsafe(event.set)

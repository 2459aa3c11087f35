"""Rate limits on starting orders: against push floods to one customer and number enumeration.

Two sliding windows, checked together when an order (or a reset, or an app activation) starts:

- per national identity number: at most `per_number` starts a window, whether or not the number
  belongs to a customer (limiting only customers would itself tell who is one). This stops a
  flood of push requests to one phone ("push bombing") and of activation SMS to one customer.
- per kiosk (relying party): at most `per_kiosk` starts a window over all numbers. Every answer
  to an order start looks alike for known and unknown numbers, but the order's outcome (does a
  phone get asked?) must tell the kiosk what to do next, so this budget is what bounds how fast
  a stolen kiosk token can learn who is a customer.

A refused start gets 429 with the reason and the seconds until the next one is allowed; refused
starts are not counted (a flood does not extend its own ban). A limit of 0 switches that window off.

Where windows are counted (`Windows`): in this process (`LocalWindows`) when it is the only one
(SQLite: no write transaction per order start), in the database (`SharedWindows`, rows of
`rate_events`) when instances share it, so that N instances have one budget, not N. The same goes
for the hourly windows of app activations and of blocks without login.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tillit.signer import errors
from tillit.signer.store.base import Store


class RateLimited(errors.RateLimited):
    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason, "rateLimited")
        self.retry_after = max(1, math.ceil(retry_after))


class SlidingWindow:
    """At most `limit` events per `window` seconds for each key; thread-safe."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._checks = 0

    def wait_time(self, key: str) -> float:
        """Seconds until `key` may have another event (0: now)."""
        if self.limit <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            events = self._events.get(key)
            if events is None:
                return 0.0
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) < self.limit:
                return 0.0
            return events[0] + self.window - now

    def add(self, key: str) -> None:
        if self.limit <= 0:
            return
        now = self.clock()
        with self._lock:
            self._events.setdefault(key, deque()).append(now)
            self._checks += 1
            if self._checks % 1024 == 0:
                self._prune(now)

    def _prune(self, now: float) -> None:
        """Forget keys with no event in the window, so enumerating numbers cannot grow memory."""
        stale = [k for k, events in self._events.items() if not events or events[-1] <= now - self.window]
        for key in stale:
            del self._events[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)


@dataclass(frozen=True)
class Limit:
    """At most `limit` events per `window` seconds for each key of `scope` (0: no limit)."""

    scope: str
    limit: int
    window: float


class Windows(Protocol):
    """Where the events of the limits are counted."""

    def admit(self, checks: Sequence[tuple[Limit, str]]) -> tuple[Limit, float] | None:
        """Count one event for each (limit, key) of `checks`, or, when one of them is full, none:
        then the first full one and the seconds until it has room."""


class LocalWindows:
    """The windows of this process alone (a `SlidingWindow` per scope); thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._windows: dict[Limit, SlidingWindow] = {}
        self._lock = threading.Lock()

    def admit(self, checks: Sequence[tuple[Limit, str]]) -> tuple[Limit, float] | None:
        with self._lock:  # check all, then count all: no event counted against half the limits
            windows = [(self._window(limit), limit, key) for limit, key in checks]
            for window, limit, key in windows:
                wait = window.wait_time(key)
                if wait > 0:
                    return limit, wait
            for window, _, key in windows:
                window.add(key)
        return None

    def _window(self, limit: Limit) -> SlidingWindow:
        window = self._windows.get(limit)
        if window is None:
            window = self._windows[limit] = SlidingWindow(limit.limit, limit.window, self.clock)
        return window


class SharedWindows:
    """The windows in the store, one budget for every instance sharing it: each admission is one
    transaction that locks its keys (`Tx.rate_window`), counts and adds. Keys are stored as their
    SHA-256, not as personal numbers; events older than their window are deleted now and then.
    `clock` must be wall time (`time.time`), which the instances share."""

    PRUNE_EVERY = 256

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._admitted = 0
        self._lock = threading.Lock()

    def admit(self, checks: Sequence[tuple[Limit, str]]) -> tuple[Limit, float] | None:
        active = [(limit, hashlib.sha256(key.encode()).hexdigest()) for limit, key in checks if limit.limit > 0]
        if not active:
            return None
        now = self.clock()
        with self.store.tx() as tx:
            for limit, key in active:  # every admission locks its keys in this one order
                count, oldest = tx.rate_window(limit.scope, key, now - limit.window)
                if count >= limit.limit:
                    return limit, (oldest if oldest is not None else now) + limit.window - now
            for limit, key in active:
                tx.add_rate_event(limit.scope, key, now)
            with self._lock:
                self._admitted += 1
                prune = self._admitted % self.PRUNE_EVERY == 0
            if prune:
                for limit in {limit for limit, _ in active}:
                    tx.forget_rate_events(limit.scope, now - limit.window)
        return None


def windows_for(store: Store, clock: Callable[[], float]) -> Windows:
    """Shared windows for a store other processes share, this process's own otherwise."""
    return SharedWindows(store, clock) if store.shared else LocalWindows(clock)


class OrderLimits:
    """The per-number and per-kiosk windows, checked and counted together in `windows`."""

    def __init__(self, windows: Windows, per_number: int, per_kiosk: int, window: float) -> None:
        self.windows = windows
        self.numbers = Limit("number", per_number, window)
        self.kiosks = Limit("kiosk", per_kiosk, window)
        self.refused = 0

    def admit(self, kiosk_id: str | None, number: str, starter: str = "kiosk") -> None:
        """Count one start, or raise `RateLimited` (429) without counting it. `starter` names the
        kiosk's kind in the refusal ("kiosk", "relying party")."""
        checks = [(self.numbers, number)]
        if kiosk_id is not None:
            checks.append((self.kiosks, kiosk_id))
        full = self.windows.admit(checks)
        if full is None:
            return
        self.refused += 1
        limit, wait = full
        if limit is self.numbers:
            reason = f"too many requests for this personal number: at most {limit.limit} every {limit.window:g} s"
        else:
            reason = f"this {starter} has started too many orders: at most {limit.limit} every {limit.window:g} s"
        raise RateLimited(f"{reason}; try again in {math.ceil(wait)} s", wait)

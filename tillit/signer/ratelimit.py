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
starts are not counted (a flood does not extend its own ban). The windows live in this process:
several instances behind one database each count their own (the per-kiosk budget is then a
per-instance budget). A limit of 0 switches that window off.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from tillit.signer import errors


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


class OrderLimits:
    """The per-number and per-kiosk windows, checked and counted together."""

    def __init__(
        self, per_number: int, per_kiosk: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.numbers = SlidingWindow(per_number, window, clock)
        self.kiosks = SlidingWindow(per_kiosk, window, clock)
        self._lock = threading.Lock()
        self.refused = 0

    def admit(self, kiosk_id: str | None, number: str) -> None:
        """Count one start, or raise `RateLimited` (429) without counting it."""
        with self._lock:  # check both, then count both: no start counted against half the limits
            wait = self.numbers.wait_time(number)
            if wait > 0:
                self.refused += 1
                raise RateLimited(
                    f"too many requests for this personal number: at most {self.numbers.limit} every "
                    f"{self.numbers.window:g} s; try again in {math.ceil(wait)} s",
                    wait,
                )
            if kiosk_id is not None:
                wait = self.kiosks.wait_time(kiosk_id)
                if wait > 0:
                    self.refused += 1
                    raise RateLimited(
                        f"this kiosk has started too many orders: at most {self.kiosks.limit} every "
                        f"{self.kiosks.window:g} s; try again in {math.ceil(wait)} s",
                        wait,
                    )
                self.kiosks.add(kiosk_id)
            self.numbers.add(number)

"""`Gate`: the readers-writer lock between PKCS#11 operations (shared) and a module reset (alone)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Gate:
    """A readers-writer lock: PKCS#11 operations share it, a module reset holds it alone.

    Re-entrant for readers on one thread (an operation may call another); writers are preferred,
    so a reset waits only for the operations already inside the library. `shared()` is a plain
    object with `__enter__`/`__exit__`, not a generator: it is on the path of every signature.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0
        self._local = threading.local()
        self._shared = SharedHold(self)

    def shared(self) -> SharedHold:
        return self._shared

    def _enter_shared(self) -> None:
        local = self._local
        depth = getattr(local, "depth", 0)
        if depth == 0:
            with self._cond:
                while self._writer or self._writers_waiting:
                    self._cond.wait()
                self._readers += 1
        local.depth = depth + 1

    def _exit_shared(self) -> None:
        local = self._local
        depth = local.depth - 1
        local.depth = depth
        if depth == 0:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class SharedHold:
    """`with gate.shared():` — one per gate, safe for every thread (the depth is thread-local)."""

    __slots__ = ("_gate",)

    def __init__(self, gate: Gate) -> None:
        self._gate = gate

    def __enter__(self) -> None:
        self._gate._enter_shared()

    def __exit__(self, *exc: object) -> None:
        self._gate._exit_shared()

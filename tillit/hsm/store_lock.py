"""`StoreLock`: the readers-writer lock among processes that SoftHSM's file store needs and does not
take itself.

SoftHSM keeps a token as one file per object and reads them again whenever another process changed
them. Used by several processes at once, it tears: a process reading while another writes takes
the token for gone (every C_Login rewrites the token's own file), and a key generated while other
processes read the token can lose its label, id and sensitivity on disk, even when the process that
made it still reads it whole (measured: docs/hsm.md, "SoftHSM shared by several processes"). So
every Tillit process using a SoftHSM token takes this lock, shared around each PKCS#11 operation
and alone around everything that writes (login, key generation, records, certificates, a module
reset). Other programs (pkcs11-tool, a second SoftHSM user) do not take it. A process has one
lock per token directory (`store_lock_for`), shared by all its connections to that token.

It is two `flock` files beside the token's configuration. A writer queues on the first, alone,
before waiting for the second, and a reader passes the first (shared) before taking the second:
so a writer waits only for the readers already inside, not for a stream of them. Each thread has
its own descriptors (flock excludes one open file from another, so threads of one process exclude
each other too), opened again after a fork. Re-entrant on one thread: inside an exclusive hold
everything is free; a shared holder that asks for the lock alone lets the shared one go first (no
thread can wait for itself) and takes it back after.

A module that is not SoftHSM keeps its own store (a real HSM, or `p11-kit server` in front of
SoftHSM, which then runs in one process): the lock is then a no-op.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path

from tillit.hsm import errors

QUEUE_FILE = "softhsm-store.queue"
LOCK_FILE = "softhsm-store.lock"

_LOCKS: dict[Path, StoreLock] = {}
_LOCKS_GUARD = threading.Lock()


def store_lock_for(directory: Path | None) -> StoreLock:
    """The process's one `StoreLock` for `directory`: every connection to the token shares it, so a
    thread holding it through one connection is not kept waiting by itself through another."""
    if directory is None:
        return StoreLock(None)
    key = directory.resolve()
    with _LOCKS_GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = StoreLock(key)
        return lock


class StoreLock:
    """`with lock.shared():` around PKCS#11 operations, `with lock.exclusive():` around writes."""

    def __init__(self, directory: Path | None) -> None:
        """`directory` holds the lock files (the Tillit home of a SoftHSM token); None: a no-op."""
        self._paths = None if directory is None else (directory / QUEUE_FILE, directory / LOCK_FILE)
        self._local = _ThreadState()
        self._count_lock = threading.Lock()
        self.writers_waiting = 0  # threads of this process waiting to hold the lock alone
        self._shared = _Hold(self, fcntl.LOCK_SH, queue=True)
        self._shared_unqueued = _Hold(self, fcntl.LOCK_SH, queue=False)
        self._exclusive = _Hold(self, fcntl.LOCK_EX, queue=True)

    def shared(self, *, queue: bool = True) -> _Hold:
        """Shared with other readers. `queue=False` does not wait behind a queued writer: for a reader
        that others inside the lock wait for (the key index load), which a queued writer, itself
        waiting for them, would otherwise hold up."""
        return self._shared if queue else self._shared_unqueued

    def exclusive(self) -> _Hold:
        return self._exclusive

    def held_alone(self) -> bool:
        """Whether this thread holds the lock alone (so no other thread can take it meanwhile)."""
        return self._local.mode == fcntl.LOCK_EX

    def _descriptors(self) -> _Descriptors:
        assert self._paths is not None
        held = self._local.descriptors
        if held is None or held.pid != os.getpid():
            held = _Descriptors(*self._paths)
            self._local.descriptors = held
        return held

    def _enter(self, mode: int, queue: bool) -> None:
        if self._paths is None:
            return
        local = self._local
        stack = local.stack
        held = local.mode
        if held == fcntl.LOCK_EX or (held == fcntl.LOCK_SH and mode == fcntl.LOCK_SH):
            stack.append(None)  # already covered
            return
        descriptors = self._descriptors()
        if held == fcntl.LOCK_SH:  # shared, asking for the lock alone: let go of the shared hold first
            fcntl.flock(descriptors.lock, fcntl.LOCK_UN)
            local.mode = 0
        stack.append(held)
        if mode == fcntl.LOCK_EX:
            with self._count_lock:
                self.writers_waiting += 1
            try:
                _acquire(descriptors, mode, queue)
            finally:
                with self._count_lock:
                    self.writers_waiting -= 1
        else:
            _acquire(descriptors, mode, queue)
        local.mode = mode

    def _exit(self) -> None:
        if self._paths is None:
            return
        local = self._local
        restore = local.stack.pop()
        if restore is None:
            return
        descriptors = self._descriptors()
        fcntl.flock(descriptors.lock, fcntl.LOCK_UN)
        local.mode = 0
        if restore:
            _acquire(descriptors, restore, queue=True)
            local.mode = restore


def _acquire(descriptors: _Descriptors, mode: int, queue: bool) -> None:
    if not queue:
        fcntl.flock(descriptors.lock, mode)
        return
    fcntl.flock(descriptors.queue, mode)
    try:
        fcntl.flock(descriptors.lock, mode)
    finally:
        fcntl.flock(descriptors.queue, fcntl.LOCK_UN)


class _ThreadState(threading.local):
    """One thread's hold: its mode (0, LOCK_SH or LOCK_EX), for each `_enter` the mode to go back to
    (None: nested, nothing to undo), and its open lock files."""

    def __init__(self) -> None:
        self.mode = 0
        self.stack: list[int | None] = []
        self.descriptors: _Descriptors | None = None


class _Descriptors:
    """One thread's open lock files (closed when the thread, or the lock, is gone)."""

    def __init__(self, queue_path: Path, lock_path: Path) -> None:
        self.pid = os.getpid()
        try:
            self.queue = os.open(queue_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self.lock = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise errors.TokenUnavailable(f"cannot open the SoftHSM store's lock {e.filename}: {e.strerror}") from None

    def __del__(self) -> None:
        for fd in (getattr(self, "queue", None), getattr(self, "lock", None)):
            if fd is not None and self.pid == os.getpid():
                with contextlib.suppress(OSError):
                    os.close(fd)


class _Hold:
    """A plain object with `__enter__`/`__exit__`, not a generator: it is on every signature's path."""

    __slots__ = ("_lock", "_mode", "_queue")

    def __init__(self, lock: StoreLock, mode: int, queue: bool) -> None:
        self._lock = lock
        self._mode = mode
        self._queue = queue

    def __enter__(self) -> None:
        self._lock._enter(self._mode, self._queue)

    def __exit__(self, *exc: object) -> None:
        self._lock._exit()

"""The lock among processes (and threads) around a SoftHSM token's file store (hsm/store_lock.py).

Threads stand in for processes here: each thread has its own lock files open, and `flock` excludes
one open file from another whether or not they belong to one process. The processes themselves
are in test_hsm_keys.py (generations while other processes read the token).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tillit.hsm.client import Hsm
from tillit.hsm.settings import HsmSettings
from tillit.hsm.store_lock import StoreLock

WAIT = 5.0
# Long enough for a thread that is not blocked to have done what it was started for.
SETTLE = 0.2


def _in_thread(action: Callable[[], object]) -> tuple[threading.Thread, threading.Event]:
    done = threading.Event()

    def run() -> None:
        action()
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def test_a_writer_waits_for_the_readers_inside_and_new_readers_wait_behind_it(tmp_path: Path) -> None:
    lock = StoreLock(tmp_path)
    reader_inside, release_reader = threading.Event(), threading.Event()
    order: list[str] = []

    def first_reader() -> None:
        with lock.shared():
            reader_inside.set()
            release_reader.wait(WAIT)
            order.append("first reader out")

    def writer() -> None:
        with lock.exclusive():
            order.append("writer in")

    def late_reader() -> None:
        with lock.shared():
            order.append("late reader in")

    _, first_done = _in_thread(first_reader)
    assert reader_inside.wait(WAIT)
    _, writer_done = _in_thread(writer)
    time.sleep(SETTLE)
    assert not writer_done.is_set()  # waits for the reader inside
    _, late_done = _in_thread(late_reader)
    time.sleep(SETTLE)
    assert not late_done.is_set()  # queued behind the writer, not let in past it
    release_reader.set()
    assert first_done.wait(WAIT) and writer_done.wait(WAIT) and late_done.wait(WAIT)
    assert order == ["first reader out", "writer in", "late reader in"]


def test_an_unqueued_reader_passes_a_queued_writer(tmp_path: Path) -> None:
    """The key index load: lookups inside the lock wait for it, and the writer waits for them."""
    lock = StoreLock(tmp_path)
    reader_inside, release_reader = threading.Event(), threading.Event()

    def first_reader() -> None:
        with lock.shared():
            reader_inside.set()
            release_reader.wait(WAIT)

    def writer() -> None:
        with lock.exclusive():
            pass

    def index_load() -> None:
        with lock.shared(queue=False):
            pass

    _, first_done = _in_thread(first_reader)
    assert reader_inside.wait(WAIT)
    _, writer_done = _in_thread(writer)
    time.sleep(SETTLE)
    _, load_done = _in_thread(index_load)
    assert load_done.wait(WAIT)
    assert not writer_done.is_set()
    release_reader.set()
    assert first_done.wait(WAIT) and writer_done.wait(WAIT)


def test_one_thread_nests_holds_without_waiting_for_itself(tmp_path: Path) -> None:
    lock = StoreLock(tmp_path)
    other_got_in = threading.Event()

    def other_reader() -> None:
        with lock.shared():
            other_got_in.set()

    with lock.shared():
        with lock.shared():
            assert not lock.held_alone()
        with lock.exclusive():  # a shared holder asking for the lock alone: no deadlock
            assert lock.held_alone()
            with lock.shared(), lock.exclusive():
                assert lock.held_alone()
            _, done = _in_thread(other_reader)
            time.sleep(SETTLE)
            assert not other_got_in.is_set()
        assert not lock.held_alone()  # shared again
        assert done.wait(WAIT)  # and shared with other readers
    assert not lock.held_alone()


def test_the_lock_files_are_the_owners_alone(tmp_path: Path) -> None:
    lock = StoreLock(tmp_path)
    with lock.shared():
        pass
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {"softhsm-store.queue": 0o600, "softhsm-store.lock": 0o600}


def test_without_a_directory_the_lock_is_a_no_op(tmp_path: Path) -> None:
    """A module that is not SoftHSM keeps its own store."""
    lock = StoreLock(None)
    with lock.exclusive(), lock.shared():
        assert not lock.held_alone()
    assert os.listdir(tmp_path) == []


def test_a_lookup_waiting_for_the_key_index_gives_way_to_a_writer(hsm_settings: HsmSettings) -> None:
    """A lookup inside the lock (shared) waits for the key index to load; a recovery (or any write)
    holding the connection's lock waits for the lookup to leave the store lock; and the load ends in
    the connection's lock. The lookup must give up waiting (and search) rather than close that
    circle until its 60-s timeout: a daemon's /healthz once hung so."""
    with Hsm(hsm_settings) as hsm:
        hsm._index_ready.clear()  # as while `preload` enumerates the token
        _, looked_up = _in_thread(lambda: hsm.has_key("no-such-key"))
        time.sleep(SETTLE)
        assert not looked_up.is_set()  # waiting for the index

        def writer() -> None:
            with hsm._writing():
                pass

        def index_load_ends() -> None:
            with hsm._lock:
                hsm._index_ready.set()

        _, written = _in_thread(writer)
        _, loaded = _in_thread(index_load_ends)
        assert looked_up.wait(WAIT) and written.wait(WAIT) and loaded.wait(WAIT)


def test_connections_to_one_token_share_the_lock(hsm: Hsm, hsm_settings: HsmSettings) -> None:
    """A thread writing through one connection may use another to the same token meanwhile."""
    with Hsm(hsm_settings) as other:
        _, done = _in_thread(lambda: _write_then_read(hsm, other))
        assert done.wait(WAIT)


def _write_then_read(writer: Hsm, reader: Hsm) -> None:
    with writer._writing():
        reader.has_key("no-such-key")

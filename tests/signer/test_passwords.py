"""Argon2id in signer.passwords: real hashes with the production parameters, on the pool of its own,
whose threads run on every CPU even when the request path that asks is pinned to one (signer.cpus).

The pool is what bounds the computations to one per core, and what the daemon's Argon2id CPU
figure (tillit_argon2_cpu_seconds_total, the bench's daemon_argon2_cpu_ms_per_order) counts.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from argon2 import PasswordHasher

from tillit.signer.cpus import PROCESS_CPUS, pin_request_path
from tillit.signer.passwords import Passwords


class WatchedHasher:
    """The real PasswordHasher, recording which threads compute and how many at once."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher
        self.lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0
        self.threads: set[str] = set()
        self.affinities: list[set[int]] = []

    def _watch(self, compute: Any, *args: str) -> Any:
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.threads.add(threading.current_thread().name)
            self.affinities.append(os.sched_getaffinity(0))
        try:
            return compute(*args)
        finally:
            with self.lock:
                self.running -= 1

    def hash(self, password: str) -> str:
        return str(self._watch(self.hasher.hash, password))

    def verify(self, password_hash: str, password: str) -> bool:
        return bool(self._watch(self.hasher.verify, password_hash, password))


def test_a_hash_verifies_its_password_and_no_other() -> None:
    passwords = Passwords()
    try:
        stored = passwords.hash("Fjord-Hest-2024")
        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert passwords.verify(stored, "Fjord-Hest-2024")
        assert not passwords.verify(stored, "Fjord-Hest-2025")
        assert not passwords.verify("not a hash", "Fjord-Hest-2024")
        assert passwords.computations == 4
        assert passwords.cpu_seconds > 0
    finally:
        passwords.close()


def test_weaker_parameters_than_the_floor_are_raised_to_it() -> None:
    passwords = Passwords(time_cost=1, memory_kib=1024)
    try:
        assert passwords.hash("Fjord-Hest-2024").startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    finally:
        passwords.close()


def test_computations_run_on_the_argon2_pool_at_most_one_per_slot_however_many_ask() -> None:
    passwords = Passwords(concurrency=2)
    watched = WatchedHasher(passwords.hasher)
    passwords.hasher = watched  # type: ignore[assignment]
    try:
        stored = passwords.hash("Fjord-Hest-2024")
        with ThreadPoolExecutor(max_workers=8) as callers:
            answers = list(callers.map(lambda _: passwords.verify(stored, "Fjord-Hest-2024"), range(16)))
        assert answers == [True] * 16
        assert watched.most_at_once == 2
        assert watched.threads and all(name.startswith("tillit-argon2") for name in watched.threads)
        assert len(watched.threads) <= 2
    finally:
        passwords.close()


@pytest.mark.skipif(len(PROCESS_CPUS) < 2, reason="pinning needs two CPUs")
def test_argon2_runs_on_every_cpu_when_the_thread_that_asks_is_pinned_to_one() -> None:
    seen: dict[str, Any] = {}

    def request_path() -> None:
        seen["cpu"] = pin_request_path()
        seen["request_path"] = os.sched_getaffinity(0)
        passwords = Passwords(concurrency=1)
        watched = WatchedHasher(passwords.hasher)
        passwords.hasher = watched  # type: ignore[assignment]
        try:
            seen["verified"] = passwords.verify(passwords.hash("Fjord-Hest-2024"), "Fjord-Hest-2024")
            seen["argon2"] = watched.affinities
        finally:
            passwords.close()

    thread = threading.Thread(target=request_path)
    thread.start()
    thread.join()
    assert seen["cpu"] in PROCESS_CPUS
    assert seen["request_path"] == {seen["cpu"]}
    assert seen["verified"] is True
    assert seen["argon2"] == [set(PROCESS_CPUS)] * 2
    assert os.sched_getaffinity(0) == set(PROCESS_CPUS)  # the test's own thread was never pinned


def test_a_hash_made_with_other_parameters_is_made_again() -> None:
    older, current = Passwords(time_cost=2), Passwords(time_cost=3)
    try:
        stored = older.hash("Fjord-Hest-2024")
        assert older.rehashed(stored, "Fjord-Hest-2024") is None  # current parameters: kept
        again = current.rehashed(stored, "Fjord-Hest-2024")
        assert again is not None and again.startswith("$argon2id$v=19$m=19456,t=3,p=1$")
        assert current.verify(again, "Fjord-Hest-2024")
        assert current.rehashed("not a hash", "Fjord-Hest-2024") is None
        assert older.rehashed(again, "Fjord-Hest-2024") is None  # a lowered cost never weakens a hash
        more_memory = Passwords(time_cost=2, memory_kib=2 * 19456)
        try:  # stronger in one parameter, weaker in the other: kept
            assert more_memory.rehashed(again, "Fjord-Hest-2024") is None
        finally:
            more_memory.close()
    finally:
        older.close()
        current.close()

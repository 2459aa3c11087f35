"""Customer passwords: Argon2id hashes and the password policy."""

from __future__ import annotations

import functools
import os
import threading
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from signer.errors import InvalidInput

MIN_LENGTH = 8
# Common in Norway and not in zxcvbn's list (which is mostly English).
_LOCAL_COMMON = {
    "password",
    "passord",
    "12345678",
    "123456789",
    "1234567890",
    "qwertyui",
    "qwerty123",
    "passord1",
    "password1",
    "sommer2024",
    "vinter2024",
    "iloveyou",
    "11111111",
    "abcdefgh",
    "abc12345",
    "letmein1",
    "bankid123",
    "hemmelig",
    "fotball1",
    "norge123",
    "qwertzuiop",
    "00000000",
    "87654321",
    "admin123",
}


class Passwords:
    """Argon2id hashing and checking, at most one computation per CPU core at a time.

    Each computation fills 19 MiB and keeps a core busy for ~20 ms without holding the GIL: more at
    once than there are cores only makes each slower, costs another 19 MiB apiece, and takes the
    cores from the rest of the request path. Callers beyond that wait their turn.
    """

    def __init__(self, time_cost: int = 2, memory_kib: int = 19456, concurrency: int | None = None) -> None:
        self._hasher = PasswordHasher(time_cost=max(2, time_cost), memory_cost=max(19456, memory_kib), parallelism=1)
        self._slots = threading.BoundedSemaphore(concurrency or len(os.sched_getaffinity(0)) or 1)
        # Counted so that metrics (and the benchmark) can tell Argon2id's CPU from the rest.
        self._spent_lock = threading.Lock()
        self.computations = 0
        self.cpu_seconds = 0.0

    def _count(self, started: float) -> None:
        spent = time.thread_time() - started
        with self._spent_lock:
            self.computations += 1
            self.cpu_seconds += spent

    def hash(self, password: str) -> str:
        with self._slots:
            started = time.thread_time()
            try:
                return self._hasher.hash(password)
            finally:
                self._count(started)

    def verify(self, password_hash: str, password: str) -> bool:
        with self._slots:
            started = time.thread_time()
            try:
                return self._hasher.verify(password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False
            finally:
                self._count(started)


@functools.cache
def common_passwords() -> frozenset[str]:
    """zxcvbn's 30,000 most common passwords with ours, loaded on first use (a few MB)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"]) | _LOCAL_COMMON


def check_policy(password: str, personal_number: str) -> None:
    """Raise InvalidInput with the rule that a new password breaks."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > 256:
        raise InvalidInput("the password may have at most 256 characters")
    if password.lower() in common_passwords():
        raise InvalidInput("this password is too common; choose another")
    if personal_number and personal_number[:6] in password:
        raise InvalidInput("the password must not contain your national identity number")

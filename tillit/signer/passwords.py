"""Customer passwords: Argon2id hashes and the password policy."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tillit.signer.cpus import PROCESS_CPUS, unpin
from tillit.signer.errors import InvalidInput

if TYPE_CHECKING:
    from tillit.signer.store.records import Customer
    from tillit.signer.store.tx import Tx

T = TypeVar("T")

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
    """Argon2id hashing and checking on a pool of its own: one thread per CPU core.

    Each computation fills 19 MiB and keeps a core busy for ~20 ms without holding the GIL: more at
    once than there are cores only makes each slower, costs another 19 MiB apiece, and takes the
    cores from the rest of the request path. Callers beyond that wait their turn. The pool, rather
    than whichever request thread asks, runs them because the same few threads then reuse the same
    memory (each thread's allocator keeps its own): on the bench that made a verify 1.3 ms cheaper
    and the sign pipeline 6% faster than the same bound kept by a semaphore (docs/performance.md).
    Its threads run on every CPU, also when the request path that starts them is pinned to one
    (`signer.cpus`).
    """

    def __init__(self, time_cost: int = 2, memory_kib: int = 19456, concurrency: int | None = None) -> None:
        self.hasher = PasswordHasher(time_cost=max(2, time_cost), memory_cost=max(19456, memory_kib), parallelism=1)
        self._pool = ThreadPoolExecutor(
            max_workers=concurrency or len(PROCESS_CPUS), thread_name_prefix="tillit-argon2", initializer=unpin
        )
        # Counted so that metrics (and the benchmark) can tell Argon2id's CPU from the rest.
        self._spent_lock = threading.Lock()
        self.computations = 0
        self.cpu_seconds = 0.0

    def _on_pool(self, compute: Callable[..., T], *args: str) -> T:
        """`compute(*args)` on an Argon2id thread, its CPU counted; waits for the answer."""
        return self._pool.submit(self._counted, compute, *args).result()

    def _counted(self, compute: Callable[..., T], *args: str) -> T:
        started = time.thread_time()
        try:
            return compute(*args)
        finally:
            spent = time.thread_time() - started
            with self._spent_lock:
                self.computations += 1
                self.cpu_seconds += spent

    def _check(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def hash(self, password: str) -> str:
        return self._on_pool(self.hasher.hash, password)

    def verify(self, password_hash: str, password: str) -> bool:
        return self._on_pool(self._check, password_hash, password)

    def rehashed(self, password_hash: str, password: str) -> str | None:
        """`password` hashed with today's parameters when `password_hash`, which it has just been
        checked against, is weaker: fewer iterations or less memory than today's, and neither more
        (an administrator raised `argon2_time_cost` or `argon2_memory_kib`). Otherwise None: a hash
        as strong or stronger in either is kept, so lowering the cost never weakens a stored hash.
        So a stronger cost reaches every password at its customer's next login, not only the
        passwords set after the change."""
        try:
            stored = extract_parameters(password_hash)
        except InvalidHashError:
            return None
        today = self.hasher
        weaker = stored.time_cost < today.time_cost or stored.memory_cost < today.memory_cost
        stronger = stored.time_cost > today.time_cost or stored.memory_cost > today.memory_cost
        return self.hash(password) if weaker and not stronger else None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@functools.cache
def common_passwords() -> frozenset[str]:
    """zxcvbn's 30,000 most common passwords with ours, loaded on first use (a few MB)."""
    from zxcvbn.frequency_lists import (
        FREQUENCY_LISTS,  # tens of thousands of words: loaded at the first policy check, not at import
    )

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


def keep_rehashed(tx: Tx, customer: Customer, rehashed: tuple[str, str] | None, at: float) -> None:
    """In the transaction that accepts a right password: store the hash `Passwords.rehashed` made of
    it and its seal (`rehashed`: both, made before the transaction), unless the password was changed
    meanwhile, with an audit entry (never the hash)."""
    if rehashed is not None and tx.replace_password_hash(customer.id, customer.password_hash, *rehashed):
        tx.audit("customer.password_rehashed", customer.id, at)

"""Several threads in the PKCS#11 module at once.

With python-pkcs11's own `C_Initialize(NULL)` SoftHSM switches its locking off and these workloads
crash the process within a second (double free / SIGSEGV, seen on this machine kind); `hsm.module`
initialises with CKF_OS_LOCKING_OK instead. A crash here kills the whole pytest run, which is the point.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import Mechanism, ObjectClass, _pkcs11

from tillit.hsm import module
from tillit.hsm.client import Hsm
from tillit.hsm.connection import find_token
from tillit.hsm.keys import Algorithm
from tillit.hsm.settings import HsmSettings
from tillit.hsm.signing import verify_public

pytestmark = pytest.mark.hsm

THREADS = 4
SECONDS = 3.0


def _hammer(work: Callable[[int, int], None]) -> tuple[list[int], list[str]]:
    """Run work(thread, iteration) in THREADS threads for SECONDS; return counts and errors."""
    counts = [0] * THREADS
    failures: list[str] = []
    start = threading.Barrier(THREADS)

    def worker(n: int) -> None:
        start.wait()
        deadline = time.monotonic() + SECONDS
        try:
            while time.monotonic() < deadline:
                work(n, counts[n])
                counts[n] += 1
        except Exception as e:  # every failure is reported by the assertion below
            failures.append(f"thread {n} after {counts[n]} signatures: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=worker, args=(n,), name=f"signer-{n}") for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=SECONDS + 60)
        assert not t.is_alive(), f"{t.name} hangs (C_SignInit deadlock?)"
    return counts, failures


def test_the_module_is_initialised_for_os_locking(hsm: Hsm, hsm_settings: HsmSettings) -> None:
    lib = module.load_module(hsm_settings.module_path)
    # A plain python-pkcs11 `lib` (a subclass failed its `__dealloc__` at exit), whose own
    # `initialize`, C_Initialize(NULL) without locking, never ran: ours, with OS locking, did.
    assert type(lib) is _pkcs11.lib
    assert not lib.initialized
    assert lib is hsm._lib


def test_four_threads_sign_through_one_hsm(hsm_settings: HsmSettings, hsm_keys: dict[Algorithm, str]) -> None:
    labels = [hsm_keys[Algorithm.EC_P256], hsm_keys[Algorithm.RSA_2048]]
    # A fresh Hsm: the threads also race for the first (uncached) key lookups.
    with Hsm(hsm_settings) as shared:
        publics = {label: shared.public_key(label) for label in labels}

        def work(n: int, i: int) -> None:
            label = labels[(n + i) % 2]
            data = f"thread {n} message {i}".encode()
            signature = shared.sign(label, data)
            if not verify_public(publics[label], signature, data):
                raise AssertionError(f"bad signature by {label} on {data!r}")

        counts, failures = _hammer(work)
        assert failures == []
        assert all(c > 10 for c in counts), counts


def test_threads_racing_for_a_cold_cache(hsm_settings: HsmSettings, hsm_keys: dict[Algorithm, str]) -> None:
    """The first signatures with a key, from several threads at once, each find a complete cache entry."""
    labels = list(hsm_keys.values())
    failures: list[str] = []
    for _ in range(100):
        with Hsm(hsm_settings) as cold:
            start = threading.Barrier(THREADS)

            def first_use(n: int, cold: Hsm = cold, start: threading.Barrier = start) -> None:
                start.wait()
                try:
                    cold.sign(labels[n % len(labels)], b"first")
                except Exception as e:  # reported by the assertion below
                    failures.append(f"{type(e).__name__}: {e}")

            threads = [threading.Thread(target=first_use, args=(n,)) for n in range(THREADS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
    assert failures == []


def test_four_threads_with_their_own_sessions(
    hsm: Hsm, hsm_settings: HsmSettings, hsm_keys: dict[Algorithm, str]
) -> None:
    """Each thread its own session on the loaded module (the worker-pool shape), signing raw."""
    token = find_token(module.load_module(hsm_settings.module_path), hsm_settings)
    ec_label, rsa_label = hsm_keys[Algorithm.EC_P256], hsm_keys[Algorithm.RSA_2048]
    publics = {label: hsm.public_key(label) for label in (ec_label, rsa_label)}
    sessions: list[Any] = [token.open() for _ in range(THREADS)]  # logged in: login is per process
    keys = [
        {label: session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label) for label in (ec_label, rsa_label)}
        for session in sessions
    ]

    def work(n: int, i: int) -> None:
        data = f"own session {n} message {i}".encode()
        if (n + i) % 2:
            raw = keys[n][ec_label].sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA)
            label = ec_label
            signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        else:
            label = rsa_label
            signature = bytes(keys[n][rsa_label].sign(data, mechanism=Mechanism.SHA256_RSA_PKCS))
        if not verify_public(publics[label], signature, data):
            raise AssertionError(f"bad signature by {label} on {data!r}")

    try:
        counts, failures = _hammer(work)
    finally:
        for session in sessions:
            session.close()
    assert failures == []
    assert all(c > 10 for c in counts), counts
    # Closing the workers' sessions left the process logged in.
    assert hsm.sign(ec_label, b"still logged in")

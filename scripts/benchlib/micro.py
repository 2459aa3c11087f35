"""The `micro` worker task: the ceiling's three pieces of unavoidable work, each alone on one thread
(and Argon2id again with every core busy); signatures/s through `hsm.Hsm` against raw
python-pkcs11 on the same key; PAdES through the daemon's code against pyHanko (benchlib/pades.py).
"""

from __future__ import annotations

import hashlib
import secrets
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pkcs11 import Mechanism, ObjectClass

from benchlib.machine import cores
from benchlib.pades import pades_vs_pyhanko
from benchlib.synthetic import PASSWORD
from tillit.hsm.connection import find_token
from tillit.hsm.module import load_module
from tillit.signer.device_keys import verify_device_signature
from tillit.signer.runtime import open_signer
from tillit.signer.sample_documents import agreement_pdf
from tillit.signer.settings import SignerSettings
from tillit.signer.wire import approval_message


def _per_op(fn: Callable[[], object], batches: int, per_batch: int) -> dict[str, float]:
    """Seconds per call: the median and minimum of `batches` batch means (one warm-up call first)."""
    fn()
    means = []
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(per_batch):
            fn()
        means.append((time.perf_counter() - start) / per_batch)
    return {"median_s": statistics.median(means), "min_s": min(means), "calls": batches * per_batch}


def _all_cores_at_once(
    fn: Callable[[], object], per_thread: int, clock: Callable[[], float] = time.perf_counter, extra_busy: int = 0
) -> float:
    """Seconds per call of `fn` while every core runs it: one thread per core, `per_thread` calls each
    (after a warm-up call), the median over the threads of their mean, timed by `clock`.
    `extra_busy` more threads burn CPU meanwhile (hashing outside the GIL), so that the cores are
    oversubscribed as in the daemon, where the event loop and the pool run beside both verifies."""

    means: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(cores() + extra_busy)
    done = threading.Event()

    def run() -> None:
        fn()
        start.wait()
        began = clock()
        for _ in range(per_thread):
            fn()
        with lock:
            means.append((clock() - began) / per_thread)

    def burn() -> None:
        block = bytes(65536)
        start.wait()
        while not done.is_set():
            hashlib.sha256(block)

    threads = [threading.Thread(target=run) for _ in range(cores())]
    burners = [threading.Thread(target=burn) for _ in range(extra_busy)]
    for thread in threads + burners:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    for thread in burners:
        thread.join()
    return statistics.median(means)


def _alternating(
    a: Callable[[], object], b: Callable[[], object], seconds: float, slices: int = 6
) -> tuple[float, float]:
    """Calls/s of a and of b, measured in alternating slices so that a change in load hits both."""
    a()
    b()
    totals = {"a": [0, 0.0], "b": [0, 0.0]}
    for i in range(slices):
        order = (("a", a), ("b", b)) if i % 2 == 0 else (("b", b), ("a", a))
        for name, fn in order:
            count = 0
            start = now = time.perf_counter()
            deadline = start + seconds / slices / 2
            while now < deadline:
                fn()
                count += 1
                now = time.perf_counter()
            totals[name][0] += count
            totals[name][1] += now - start
    return totals["a"][0] / totals["a"][1], totals["b"][0] / totals["b"][1]


def micro(
    label: str, number: str, quick: bool, pdf_pages: int, parts: tuple[str, ...] = ("ceiling", "hsm", "pades")
) -> dict[str, Any]:
    settings = SignerSettings()
    result: dict[str, Any] = {}
    with open_signer(settings) as signer:
        hsm = signer.hsm
        raw_session = find_token(load_module(hsm.settings.module_path), hsm.settings).open()
        try:
            raw_key = raw_session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
            digest = hashlib.sha256(b"bench").digest()

            # The ceiling: each piece alone, one thread, production parameters.
            # On the calling thread, the daemon's parameters: the computation without the hop to
            # the daemon's Argon2id pool, which is the daemon's overhead and not part of the ceiling.
            hasher = signer.passwords.hasher
            stored = hasher.hash(PASSWORD)
            argon2 = _per_op(lambda: hasher.verify(stored, PASSWORD), 5 if quick else 8, 4 if quick else 6)
            busy = _all_cores_at_once(lambda: hasher.verify(stored, PASSWORD), 3 if quick else 6)
            crowded = _all_cores_at_once(
                lambda: hasher.verify(stored, PASSWORD), 3 if quick else 6, time.thread_time, extra_busy=1
            )
            device_key = ec.generate_private_key(ec.SECP256R1())
            device_der = device_key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            challenge = {"v": 1, "kind": "auth", "orderRef": str(uuid.uuid4()), "nonce": secrets.token_urlsafe(24)}
            message = approval_message(challenge, "approve")
            signature = device_key.sign(message, ec.ECDSA(hashes.SHA256()))
            device = _per_op(lambda: verify_device_signature(device_der, signature, message), 7, 300)
            hsm_sign = _per_op(lambda: raw_key.sign(digest, mechanism=Mechanism.ECDSA), 7, 300)
            result["ceiling"] = {
                "argon2id_verify_ms": round(argon2["median_s"] * 1000, 3),
                "argon2id_params": {
                    "time_cost": settings.argon2_time_cost,
                    "memory_kib": settings.argon2_memory_kib,
                    "parallelism": 1,
                },
                # Not part of the ceiling: one verify on every core at once, which is how the
                # pipeline runs them (they share the memory bus and the last-level cache).
                "argon2id_verify_ms_all_cores_busy": round(busy * 1000, 3),
                # Nor this: the CPU time of one verify on every core while one thread more wants a
                # core too, so the verifies are preempted. The daemon's own Argon2id CPU per order
                # (pipeline.*.daemon_argon2_cpu_ms_per_order) is measured the same way.
                "argon2id_verify_cpu_ms_cores_oversubscribed": round(crowded * 1000, 3),
                "device_signature_verify_ms": round(device["median_s"] * 1000, 4),
                "hsm_signature_ms": round(hsm_sign["median_s"] * 1000, 4),
            }

            if "hsm" not in parts:
                return result
            # The HSM layer against raw python-pkcs11, same key, same token, one thread.
            seconds = 1.5 if quick else 4.0
            layer_rate, raw_rate = _alternating(
                lambda: hsm.sign_digest(label, digest),
                lambda: raw_key.sign(digest, mechanism=Mechanism.ECDSA),
                seconds,
            )
            result["hsm"] = {
                "algorithm": "EC P-256, CKM_ECDSA over a host SHA-256",
                "daemon_layer_per_s": round(layer_rate, 1),
                "raw_pkcs11_per_s": round(raw_rate, 1),
                "threads": 1,
            }

            if "pades" in parts:
                result["pades"] = pades_vs_pyhanko(signer, raw_session, label, number, quick, pdf_pages, agreement_pdf)
        finally:
            raw_session.close()
    return result

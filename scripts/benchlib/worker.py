"""Bench tasks that touch a SoftHSM token in-process. Each runs in a process of its own.

SoftHSM reads SOFTHSM2_CONF once per process, so a process can only ever use the token of one
TILLIT_HOME; the orchestrator therefore starts `bench.py --worker TASK JSON` once per task and
home, with TILLIT_HOME set, and reads one JSON object from its standard output.

Tasks:
- `setup`: a fresh home as an administrator makes it (`tillit-hsm init`, `tillit-hsm ca init`,
  `tillit-signer kiosks add`), then customers enrolled through `Signer.enrol` (Argon2id, a key in
  the HSM, a certificate) each with one active device whose private key is handed back.
- `micro` (benchlib/micro.py, benchlib/pades.py): the ceiling's three pieces of unavoidable work,
  each alone on one thread; signatures/s through `hsm.Hsm` against raw python-pkcs11 on the same
  key; PAdES of a 20-page PDF through the daemon's signing code against pyHanko's own
  `PKCS11Signer` with the same key.
- `bulk` (benchlib/filler.py): bench-only filler up to N customers: key pairs generated in the token with the same
  templates as `Hsm.generate_key` (without its per-key existence search, which is linear in the
  token), a certificate object beside each (a copy of a real customer's certificate under the
  filler's label), and customer rows sharing one precomputed Argon2id hash. No devices, no audit
  entries: the filler only has to make the token and the tables as large as a real branch's.
- `probe`: a fresh process on a large token: what a key search costs there, and (when the HSM
  layer has it) how long loading every key handle once takes.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from benchlib.filler import bulk
from benchlib.micro import micro
from benchlib.synthetic import PASSWORD, synthetic_numbers
from tillit.hsm.client import Hsm
from tillit.hsm.settings import HsmSettings
from tillit.signer.runtime import open_signer
from tillit.signer.settings import SignerSettings

BIN = Path(sys.executable).parent


def _admin(*argv: str) -> str:
    result = subprocess.run(
        [str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, env=os.environ.copy(), timeout=300, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result.stdout


def setup(customers: int, seed: int) -> dict[str, Any]:
    _admin("tillit-hsm", "init")
    _admin("tillit-hsm", "ca", "init")
    token = _admin("tillit-signer", "kiosks", "add", "--name", "Bergen sentrum").strip()
    made = []
    numbers = synthetic_numbers(seed)
    with open_signer(SignerSettings()) as signer:
        for i in range(customers):
            number = next(numbers)
            customer = signer.enrol(number, f"Kunde {i:05d}", "+4791234567", "kunde@example.no", PASSWORD)
            key = ec.generate_private_key(ec.SECP256R1())
            public = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            device = signer.bind_device(customer, public, "bench phone", how="administrator")
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            made.append(
                {
                    "number": number,
                    "password": PASSWORD,
                    "device_id": device.id,
                    "device_key": pem.decode(),
                    "key_label": customer.key_label,
                }
            )
    return {"kiosk_token": token, "customers": made}


def probe(labels: list[str]) -> dict[str, Any]:
    """Key lookups in a fresh process: a search for each of the first labels, then (if the HSM
    layer can) one enumeration of every key, then the first signature with the other labels."""

    digest = hashlib.sha256(b"probe").digest()
    start = time.perf_counter()
    hsm = Hsm(HsmSettings())
    opened = time.perf_counter() - start
    try:
        half = max(1, len(labels) // 2)
        searched = []
        for label in labels[:half]:
            t = time.perf_counter()
            hsm.sign_digest(label, digest)
            searched.append(time.perf_counter() - t)
        result: dict[str, Any] = {
            "open_s": round(opened, 3),
            "first_signature_by_search_ms": round(statistics.median(searched) * 1000, 2),
            "keys": hsm.status().keys,
        }
        preload = getattr(hsm, "preload", None)
        if preload is not None:
            t = time.perf_counter()
            preload()
            result["preload_s"] = round(time.perf_counter() - t, 3)
            preloaded = []
            for label in labels[half:]:
                t = time.perf_counter()
                hsm.sign_digest(label, digest)
                preloaded.append(time.perf_counter() - t)
            if preloaded:
                result["first_signature_after_preload_ms"] = round(statistics.median(preloaded) * 1000, 3)
        return result
    finally:
        hsm.close()


def main(task: str, arguments: str) -> None:
    args = json.loads(arguments)
    tasks: dict[str, Callable[..., dict[str, Any]]] = {"setup": setup, "micro": micro, "bulk": bulk, "probe": probe}
    result = tasks[task](**args)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()

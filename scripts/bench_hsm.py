#!/usr/bin/env python3
"""Signatures per second through `hsm.Hsm.sign_digest` against raw python-pkcs11, on the same token.

    .venv/bin/python scripts/bench_hsm.py [--seconds N]

Makes a throwaway SoftHSM token in a fresh temporary TILLIT_HOME, generates an EC P-256 and an
RSA-2048 key there, and signs a SHA-256 digest single-threaded for about N seconds each way: through the
HSM layer (cached handle, DER encoding, error translation) and with python-pkcs11 directly
(`key.sign(digest, mechanism=ECDSA)`; `RSA_PKCS` over the same DigestInfo the layer builds).
Prints one JSON object. A benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pkcs11 import Mechanism, ObjectClass
from pydantic import SecretStr

from tillit.hsm.client import Hsm
from tillit.hsm.connection import find_token
from tillit.hsm.keys import Algorithm
from tillit.hsm.module import load_module
from tillit.hsm.provision import initialise_token
from tillit.hsm.settings import HsmSettings

# DigestInfo prefix for SHA-256 (RFC 8017 section 9.2 note 1), as hsm.client sends it for RSA keys.
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
# Each measurement is split into this many slices, alternating between the layer and raw python-pkcs11.
SLICES = 6


def measure(sign: Callable[[bytes], Any], seconds: float) -> tuple[int, float]:
    """Call `sign(digest)` for about `seconds`; return (signatures, elapsed seconds)."""
    digest = hashlib.sha256(b"benchmark").digest()
    count = 0
    start = now = time.perf_counter()
    deadline = start + seconds
    while now < deadline:
        sign(digest)
        count += 1
        now = time.perf_counter()
    return count, now - start


def compare(layer: Callable[[bytes], Any], raw: Callable[[bytes], Any], seconds: float) -> dict[str, float]:
    """Signatures/s each way, measured in alternating slices so that a change in load hits both alike."""
    digest = hashlib.sha256(b"warm-up").digest()
    layer(digest)
    raw(digest)
    totals = {"layer": [0, 0.0], "raw": [0, 0.0]}
    for i in range(SLICES):
        order = (("layer", layer), ("raw", raw)) if i % 2 == 0 else (("raw", raw), ("layer", layer))
        for name, sign in order:
            count, elapsed = measure(sign, seconds / SLICES)
            totals[name][0] += count
            totals[name][1] += elapsed
    layer_per_s = totals["layer"][0] / totals["layer"][1]
    raw_per_s = totals["raw"][0] / totals["raw"][1]
    return {
        "hsm_layer_per_s": round(layer_per_s, 1),
        "raw_per_s": round(raw_per_s, 1),
        "ratio": round(layer_per_s / raw_per_s, 3),
    }


def bench(seconds: float, home: Path) -> dict[str, dict[str, float]]:
    settings = HsmSettings(
        home=home,
        pkcs11_module=None,  # always SoftHSM in `home`, whatever TILLIT_PKCS11_MODULE says
        token_label="tillit-bench",  # noqa: S106 (a label, not a password)
        token_serial=None,
        hsm_pin=SecretStr("12345678"),
        hsm_so_pin=SecretStr("87654321"),
    )
    initialise_token(settings)
    results: dict[str, dict[str, float]] = {}
    with Hsm(settings) as hsm:
        # A plain session beside the layer's: the process is logged in, so it can use private keys.
        raw_session = find_token(load_module(settings.module_path), settings).open()
        try:
            for name, algorithm in (("ec_p256", Algorithm.EC_P256), ("rsa_2048", Algorithm.RSA_2048)):
                label = f"bench-{name}"
                hsm.generate_key(label, algorithm)
                key = raw_session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)

                def raw(digest: bytes, key: Any = key, ec: bool = algorithm.is_ec) -> Any:
                    if ec:
                        return key.sign(digest, mechanism=Mechanism.ECDSA)
                    return key.sign(SHA256_DIGEST_INFO + digest, mechanism=Mechanism.RSA_PKCS)

                def layer(digest: bytes, label: str = label) -> bytes:
                    return hsm.sign_digest(label, digest)

                results[name] = compare(layer, raw, seconds)
        finally:
            raw_session.close()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per measurement (default 3)")
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    with tempfile.TemporaryDirectory(prefix="tillit-bench-") as home:
        results = bench(args.seconds, Path(home))
    print(json.dumps(results))


if __name__ == "__main__":
    main()

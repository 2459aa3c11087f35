"""Shared by the proofs: the full-run switch, figures for docs/proofs.md, the daemon's database, enrolment."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.daemon import PASSWORD, Daemon
from tillit.phone.client import PhoneClient
from tillit.signer.wire import AppRequest

FULL = os.environ.get("TILLIT_FULL_TESTS") == "1"
FIGURES: dict[str, dict[str, Any]] = {}
_figures_lock = threading.Lock()


def figures(section: str, **values: Any) -> None:
    """Record how hard a proof tried. The figures travel with the test's report (also from a
    pytest-xdist worker), are printed at the end of the run and written to $TILLIT_FIGURES_OUT
    as JSON when set (tests/proofs/figures_report.py)."""
    with _figures_lock:
        FIGURES.setdefault(section, {}).update(values)


def take_figures() -> dict[str, dict[str, Any]]:
    """The figures recorded since the last call (by the test that just ran)."""
    with _figures_lock:
        taken = {section: dict(values) for section, values in FIGURES.items()}
        FIGURES.clear()
    return taken


@contextmanager
def database(d: Daemon) -> Iterator[sqlite3.Connection]:
    """The daemon's SQLite database, read-only (WAL: safe while the daemon runs)."""
    db = sqlite3.connect(f"file:{d.home / 'signer.db'}?mode=ro", uri=True, timeout=30)
    try:
        yield db
    finally:
        db.close()


def query(d: Daemon, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with database(d) as db:
        return list(db.execute(sql, params).fetchall())


def request_for(phone: PhoneClient, ref: str) -> AppRequest:
    """The request for order `ref` as `phone` sees it, long-polling for up to 10 s."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for r in phone.requests(wait=3).requests:
            if r.order_ref == ref:
                return r
    raise AssertionError(f"the phone never saw {ref}")


def audit_verify(d: Daemon, *extra: str) -> str:
    """`tillit-signer audit verify` must exit 0; returns its line."""
    result = d.run("tillit-signer", "audit", "verify", *extra, check=False)
    assert result.returncode == 0, f"audit verify failed: {result.stderr}{result.stdout}"
    return result.stdout.strip()


_bulk_offset = itertools.count(1)


def enrol_many(d: Daemon, count: int, password: str = PASSWORD) -> list[tuple[str, PhoneClient]]:
    """`count` fresh customers with an active device each, enrolled in one process (tests/proofs/bulk.py)."""
    start = 2_000 * next(_bulk_offset)  # clear of the numbers this process makes itself
    result = subprocess.run(
        [sys.executable, "-m", "tests.proofs.bulk", str(count), "", str(start)],
        input=password + "\n",
        capture_output=True,
        text=True,
        env={**d.env, "PYTHONPATH": str(Path(__file__).parents[2])},
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    made = []
    for row in json.loads(result.stdout):
        key = serialization.load_pem_private_key(row["key"].encode(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        made.append((str(row["number"]), PhoneClient(d.url, str(row["deviceId"]), key)))
    return made


def hsm_errors_total(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith("tillit_hsm_errors_total"):
            return float(line.split()[-1])
    return 0.0


def hsm_signatures_total(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith("tillit_hsm_signatures_total"):
            return float(line.split()[-1])
    return 0.0


def hsm_key_signatures(metrics: str) -> dict[str, float]:
    """`tillit_hsm_key_signatures_total` by key (customer keys together as `customer`)."""
    found: dict[str, float] = {}
    for line in metrics.splitlines():
        if line.startswith('tillit_hsm_key_signatures_total{key="'):
            found[line.split('"')[1]] = float(line.split()[-1])
    return found


LOG_PROBLEMS = ("Traceback", "PKCS11", "pkcs11.", "CKR_", "Exception in ASGI", "Internal Server Error")


def log_problems(d: Daemon) -> list[str]:
    text = d.log.read_text(errors="replace") if d.log.exists() else ""
    return [line for line in text.splitlines() if any(p in line for p in LOG_PROBLEMS)]

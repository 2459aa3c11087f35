"""Signer processes that start together on a token no signer has opened yet: the service key that
signs completion tokens and receipts is made once, so every instance publishes the same key and
none refuses to start because the label is on two keys. The daemons' race is seldom lost by chance;
the second test widens its window so that it is lost every time without the lock."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import httpx

from tests.daemon import Daemon, free_port, make_daemon

INSTANCES = 3


def test_instances_starting_together_on_a_fresh_token_make_one_service_key(tmp_path: Path) -> None:
    first = make_daemon(tmp_path / "home", TILLIT_PUBLIC_URL="http://127.0.0.1:8700")
    assert "tillit-service-jwt" not in first.run("tillit-hsm", "keys", "list").stdout  # no signer has served yet
    daemons = [first] + [Daemon(home=first.home, port=free_port(), env={**first.env}) for _ in range(INSTANCES - 1)]
    for daemon in daemons[1:]:
        daemon.env["TILLIT_PORT"] = str(daemon.port)
    failures: list[BaseException] = []

    def start(daemon: Daemon) -> None:
        try:
            daemon.start()
        except BaseException as e:  # reported below, with the daemon log
            failures.append(e)

    threads = [threading.Thread(target=start, args=(d,)) for d in daemons]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failures, failures
        published = [httpx.get(d.url + "/v1/keys", timeout=10).json() for d in daemons]
        assert all(keys == published[0] for keys in published), published
    finally:
        for daemon in daemons:
            daemon.stop()
    assert first.run("tillit-hsm", "keys", "list").stdout.count("tillit-service-jwt") == 1


# Run in a process of its own (SoftHSM reads its configuration once per process): three signers'
# TokenIssuers made at once on one fresh token, with the HSM slow to answer whether the service key
# exists, so that all three have looked before any has made it. Without the lock in the home each
# would make a key; the lock must leave exactly one.
_RACE = """
import sys, threading, time
from tillit.hsm.client import open_hsm
from tillit.signer.tokens import SERVICE_KEY_LABEL, TokenIssuer

with open_hsm() as hsm:
    look = hsm.has_key

    def slow_look(label):
        found = look(label)
        time.sleep(0.5)  # the window between looking and making, widened
        return found

    hsm.has_key = slow_look
    barrier = threading.Barrier(3)
    kids, failures = [], []

    def start():
        barrier.wait()
        try:
            kids.append(TokenIssuer(hsm, "http://127.0.0.1:8700").jwks()["keys"][0]["kid"])
        except Exception as e:
            failures.append(repr(e))

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(len(set(kids)), len(failures), failures)
"""


def test_three_issuers_that_looked_at_once_still_make_one_service_key(tmp_path: Path) -> None:
    home = make_daemon(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, "-c", _RACE], env=home.env, capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.split()[:2] == ["1", "0"], result.stdout + result.stderr
    assert home.run("tillit-hsm", "keys", "list").stdout.count("tillit-service-jwt") == 1

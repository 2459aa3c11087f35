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
import pytest

from tests.daemon import Daemon, free_port, make_daemon
from tests.proofs.p11kit import P11KitServer, require_p11_kit
from tests.store.conftest import pg_database  # noqa: F401 - the fixture: the database both machines share

INSTANCES = 3


@pytest.mark.postgresql
def test_instances_starting_together_on_a_fresh_token_make_one_service_key(
    tmp_path: Path,
    pg_database: str,  # noqa: F811 - several instances serve one database only on PostgreSQL
) -> None:
    first = make_daemon(tmp_path / "home", TILLIT_PUBLIC_URL="http://127.0.0.1:8700", TILLIT_DATABASE_URL=pg_database)
    assert "tillit-service-jwt" not in first.run("tillit-hsm", "keys", "list").stdout  # no signer has served yet
    daemons = [first] + [Daemon(home=first.home, port=free_port(), env={**first.env}) for _ in range(INSTANCES - 1)]
    for n, daemon in enumerate(daemons):  # instances sharing a home each name themselves
        daemon.env["TILLIT_INSTANCE_ID"] = f"instance-{n}"
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


# Run in a process of its own (SoftHSM reads its configuration once per process): signers'
# TokenIssuers made at once on one fresh token, each on a store of its own over the home's database
# (or the PostgreSQL one in TILLIT_DATABASE_URL), with the HSM slow to answer whether the service key
# exists, so that all have looked before any has made it. Without the store's lock each would make a
# key; the lock must leave exactly one. The threads of every process sharing RACE_BARRIER start
# together: each adds a file there and waits until RACE_PARTIES files are there. A thread whose store
# does not open, or a process that never gets there, is reported as a failure after BARRIER_SECONDS
# instead of keeping the others waiting (once, in CI, the two-machine race hung for 120 s, when its
# machines still opened SoftHSM's files directly: see that test).
_RACE = """
import os, sys, threading, time
from pathlib import Path
from tillit.hsm.client import open_hsm
from tillit.signer.runtime import open_store
from tillit.signer.settings import SignerSettings
from tillit.signer.tokens import SERVICE_KEY_LABEL, TokenIssuer

barrier_dir, parties = Path(os.environ["RACE_BARRIER"]), int(os.environ["RACE_PARTIES"])
BARRIER_SECONDS = 60
with open_hsm() as hsm:
    look = hsm.has_key

    def slow_look(label):
        found = look(label)
        time.sleep(0.5)  # the window between looking and making, widened
        return found

    hsm.has_key = slow_look
    kids, failures = [], []

    def start(n):
        store = None
        try:
            store = open_store(SignerSettings())
        except Exception as e:
            failures.append("open_store: " + repr(e))
        finally:
            (barrier_dir / f"{os.getpid()}-{n}").touch()  # the others do not wait for a failed one
        deadline = time.monotonic() + BARRIER_SECONDS
        while len(arrived := list(barrier_dir.iterdir())) < parties:
            if time.monotonic() > deadline:
                failures.append(f"{len(arrived)} of {parties} threads reached the barrier in {BARRIER_SECONDS} s")
                break
            time.sleep(0.01)
        else:
            if store is not None:
                try:
                    kids.append(TokenIssuer(hsm, "http://127.0.0.1:8700", store).jwks()["keys"][0]["kid"])
                except Exception as e:
                    failures.append(repr(e))
        if store is not None:
            store.close()

    threads = [threading.Thread(target=start, args=(n,)) for n in range(int(sys.argv[1]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(len(set(kids)), len(failures), " ".join(sorted(set(kids))), failures)
"""


def race(env: dict[str, str], threads: int, barrier: Path, parties: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _RACE, str(threads)],
        env={**env, "RACE_BARRIER": str(barrier), "RACE_PARTIES": str(parties)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def settled(races: list[subprocess.Popen[str]]) -> list[tuple[str, str]]:
    """Each race's output once it ends; one still running after two minutes is killed (its output
    then shows how far it got), so that no process outlives the test."""
    answers = []
    for process in races:
        try:
            answers.append(process.communicate(timeout=120))
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            answers.append((out, err + "\n(killed after 120 s)"))
    return answers


def test_three_issuers_that_looked_at_once_still_make_one_service_key(tmp_path: Path) -> None:
    home = make_daemon(tmp_path / "home")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    ((out, err),) = settled([race(home.env, 3, barrier, 3)])
    assert out.split()[:2] == ["1", "0"], out + err
    assert home.run("tillit-hsm", "keys", "list").stdout.count("tillit-service-jwt") == 1


@pytest.mark.postgresql
def test_two_machines_sharing_the_hsm_and_postgresql_make_one_service_key(
    tmp_path: Path,
    pg_database: str,  # noqa: F811
) -> None:
    """Two homes (two machines: no lock file in common), one token and one PostgreSQL database: the
    lock is the database's, so the two processes' four issuers still make one key. Both machines
    reach the token through one `p11-kit server`, as two machines reach a network HSM
    (docs/operations.md). They used to open SoftHSM's files directly, each from its own home: two
    processes in one SoftHSM store without a lock in common, which SoftHSM does not survive
    (docs/hsm.md), and once in CI the race then hung for 120 s."""
    require_p11_kit()
    a = make_daemon(tmp_path / "machine-a", TILLIT_DATABASE_URL=pg_database)
    server = P11KitServer(tmp_path / "hsm.sock", a.home / "softhsm2.conf")
    server.start()
    try:
        pin = (a.home / "hsm-pin").read_text().strip()
        env_a = {**a.env, **server.client_env(), "TILLIT_HSM_PIN": pin}
        home_b = tmp_path / "machine-b"
        home_b.mkdir()
        env_b = {**env_a, "TILLIT_HOME": str(home_b)}
        barrier = tmp_path / "barrier"
        barrier.mkdir()
        answers = settled([race(env_a, 2, barrier, 4), race(env_b, 2, barrier, 4)])
    finally:
        server.kill()
    kids = set()
    for out, err in answers:
        assert out.split()[1:2] == ["0"], out + err
        kids.update(out.split()[2:3])
    assert len(kids) == 1, answers
    assert a.run("tillit-hsm", "keys", "list").stdout.count("tillit-service-jwt") == 1

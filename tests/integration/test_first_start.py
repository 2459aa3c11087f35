"""Signer processes that start together on a token no signer has opened yet: the service key that
signs completion tokens and receipts is made once, so every instance publishes the same key and
none refuses to start because the label is on two keys."""

from __future__ import annotations

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

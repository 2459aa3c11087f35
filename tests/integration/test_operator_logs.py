"""What an operator reads in the daemon's log: the start line names the version, the instance, the
PKCS#11 module and token and the store (never the database's password); a SIGTERM stop ends with
"stopped"; an HSM outage is one warning with its reason, then "HSM back after N s" once it is back.

The real daemon under uvicorn, its log as JSON lines (TILLIT_LOG_JSON=1), over real SoftHSM: moved
away and back (its token store), or behind a real `p11-kit server` killed with its children and
started again (tests/proofs/p11kit.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.daemon import Daemon, free_port, make_daemon
from tests.factories import fresh_adult
from tests.proofs.p11kit import CLIENT_MODULE, P11KitServer, require_p11_kit
from tests.store.conftest import (
    pg_database,  # noqa: F401 - the fixture: the daemon's database
    with_param,
)
from tillit.hsm.settings import SOFTHSM_MODULE

pytestmark = pytest.mark.integration

DB_PASSWORD = "secret-x"  # trust authentication: the server ignores it, the log must not show it
OUTAGE_SECONDS = 2.5  # two module resets or more (one a second) while the HSM is away


def entries(d: Daemon) -> list[dict[str, Any]]:
    """The log's JSON entries (uvicorn's and Tillit's; any other line left out)."""
    found = []
    for line in d.log.read_text().splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def of(d: Daemon, event: str) -> list[dict[str, Any]]:
    return [e for e in entries(d) if e.get("event") == event]


def health(d: Daemon) -> int:
    return httpx.get(d.url + "/healthz", timeout=10).status_code


def wait_for(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"{what} not within {within} s"
        time.sleep(0.05)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = make_daemon(tmp_path / "home", TILLIT_LOG_JSON="1")
    yield d
    d.stop()


def test_start_line_names_version_instance_module_token_and_sqlite(daemon: Daemon) -> None:
    daemon.start()
    [start] = of(daemon, "serve.start")
    instance = (daemon.home / "instance-id").read_text().strip()
    assert start["level"] == "info" and start["logger"] == "tillit.signer"
    assert start["message"].startswith(f"serving on http://127.0.0.1:{daemon.port}: Tillit "), start
    assert start["version"] and start["version"] in start["message"]
    assert start["instance"] == instance and instance in start["message"]
    assert start["module"] == SOFTHSM_MODULE and SOFTHSM_MODULE in start["message"]
    assert start["token"] == "token 'tillit'" and "token 'tillit'" in start["message"]
    assert start["store"] == f"SQLite {daemon.home / 'signer.db'}", start
    assert start["store"] in start["message"]
    assert of(daemon, "serve.ca_ends_soon") == []  # a CA of ten years


# The CA `ca init` would have made nine years ago: its root ends within a year.
_CA_ENDING_SOON = """
import sys
from tillit.hsm.ca import CertificateAuthority
from tillit.hsm.client import Hsm
from tillit.hsm.settings import HsmSettings
with Hsm(HsmSettings()) as hsm:
    ca = CertificateAuthority.for_home(hsm)
    ca.init(years=1, public_url=sys.argv[1])
    ca.issue_timestamping_certificate()
"""


def test_a_ca_that_ends_within_a_year_is_a_warning_at_start(tmp_path: Path) -> None:
    d = Daemon(home=tmp_path / "home", port=free_port(), env={})
    d.home.mkdir()
    d.env.update({k: v for k, v in os.environ.items() if not k.startswith("TILLIT_") and k != "SOFTHSM2_CONF"})
    d.env.update(TILLIT_HOME=str(d.home), TILLIT_PORT=str(d.port), TILLIT_LOG_JSON="1")
    d.run("tillit-hsm", "init")
    made = subprocess.run([sys.executable, "-c", _CA_ENDING_SOON, d.url], env=d.env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    try:
        d.start()
        [warning] = of(d, "serve.ca_ends_soon")
        assert warning["level"] == "warning", warning
        assert "the root's certificate ends" in warning["message"], warning
        assert "the TSA's certificate ends" in warning["message"], warning
        assert "tillit-hsm ca renew" in warning["message"], warning
    finally:
        d.stop()


@pytest.mark.postgresql
def test_start_line_names_postgresql_without_its_password(tmp_path: Path, pg_database: str) -> None:  # noqa: F811
    """The password both in the URL's user part and as `?password=`: libpq takes either, the log
    shows neither, but the user, host, port and database."""
    parts = urlsplit(pg_database)
    user, host_port, database = parts.username, parts.netloc.rpartition("@")[2], parts.path.lstrip("/")
    with_user_password = urlunsplit(parts._replace(netloc=f"{user}:{DB_PASSWORD}@{host_port}"))
    url = with_param(with_user_password, "password", DB_PASSWORD)
    d = make_daemon(tmp_path / "home", TILLIT_LOG_JSON="1", TILLIT_DATABASE_URL=url)
    try:
        d.start()
        [start] = of(d, "serve.start")
        assert start["store"] == f"PostgreSQL {user}@{host_port}/{database}", start
        assert start["store"] in start["message"]
    finally:
        d.stop()
    assert DB_PASSWORD not in d.log.read_text()


def test_sigterm_stop_logs_stopped_once(daemon: Daemon) -> None:
    daemon.start()
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGTERM)
    daemon.process.wait(15)
    stops = of(daemon, "serve.stop")
    assert [e["message"] for e in stops] == ["stopped"], daemon.log.read_text()[-2000:]
    assert entries(daemon)[-1]["event"] == "serve.stop"
    assert daemon.process.returncode == 0  # a clean stop, not death by the signal uvicorn raised again


def ride_out_outage(d: Daemon, take_away: Callable[[], object], give_back: Callable[[], object]) -> None:
    """The HSM away for OUTAGE_SECONDS while /healthz is asked (each ask an operation that fails and
    recovers, resetting the module at most once a second), then back until /healthz is green."""
    assert health(d) == 200
    take_away()
    try:
        wait_for(lambda: health(d) == 503, 2, "/healthz 503")
        away_until = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < away_until:
            assert health(d) == 503
            time.sleep(0.05)
    finally:
        give_back()
    wait_for(lambda: health(d) == 200, 10, "/healthz 200")


def assert_outage_logged_once(d: Daemon, reason: str) -> None:
    hsm = [e for e in entries(d) if e["logger"] == "tillit.hsm"]
    assert [e["event"] for e in hsm] == ["hsm.unavailable", "hsm.back"], hsm
    gone, back = hsm
    assert gone["level"] == "warning" and gone["message"].startswith("HSM unavailable: "), gone
    assert reason in gone["message"], gone
    assert back["level"] == "info" and back["message"].startswith("HSM back after "), back
    assert OUTAGE_SECONDS <= back["seconds"] < OUTAGE_SECONDS + 10, back
    pin = (d.home / "hsm-pin").read_text().strip()
    assert pin not in d.log.read_text()


def test_token_store_removed_and_restored_is_one_warning_then_back(daemon: Daemon) -> None:
    daemon.start()
    tokens, away = daemon.home / "tokens", daemon.home / "tokens-away"
    ride_out_outage(
        daemon,
        lambda: shutil.move(str(tokens), str(away)),
        lambda: shutil.move(str(away), str(tokens)),
    )
    assert_outage_logged_once(daemon, "token 'tillit'")


def test_hsm_server_killed_and_restarted_is_one_warning_then_back(daemon: Daemon, tmp_path: Path) -> None:
    """The operator's outage: `p11-kit server` and its `p11-kit-remote` children killed, then started
    again; the daemon uses the token through p11-kit-client.so."""
    require_p11_kit()
    server = P11KitServer(tmp_path / "hsm.sock", daemon.home / "softhsm2.conf")
    server.start()
    try:
        daemon.env.update(server.client_env())
        daemon.start()
        [start] = of(daemon, "serve.start")
        assert start["module"] == CLIENT_MODULE
        ride_out_outage(daemon, server.kill, server.start)
    finally:
        daemon.stop()
        server.kill()
    assert_outage_logged_once(daemon, "token 'tillit'")


def test_checkpoints_put_off_while_the_hsm_is_away_are_one_line(tmp_path: Path) -> None:
    """A checkpoint due after every audit entry, the HSM away, several orders started: each commit
    tries the checkpoint again, and the log says so once (then at most once a minute)."""
    d = make_daemon(tmp_path / "home", TILLIT_LOG_JSON="1", TILLIT_AUDIT_CHECKPOINT_EVERY="1")
    numbers = [fresh_adult() for _ in range(4)]
    for number in numbers:
        d.enrol(number)
    d.start()
    tokens, away = d.home / "tokens", d.home / "tokens-away"
    try:
        shutil.move(str(tokens), str(away))
        with d.kiosk() as kiosk:
            for number in numbers:
                assert kiosk.post("/v1/auth", json={"personalNumber": number}).status_code == 200
        postponed = [e for e in entries(d) if e["message"].startswith("audit checkpoint postponed")]
        assert len(postponed) == 1, postponed
    finally:
        shutil.move(str(away), str(tokens))
        d.stop()

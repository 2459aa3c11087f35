"""Support looks customers up while the HSM is away: `tillit-signer customers list` and `customers
show` (text and --json) answer from the database and the CA ledger, exit 0 and say that the HSM is
unavailable and why; the commands that change a customer are refused in one line and change nothing.

Before: both opened the HSM first, so with it away they failed in one line like every other command,
and support could not see a customer's status, app, block or certificate during an outage.

Real parts only: a home made by `tillit-hsm init` and `ca init`, customers enrolled by the CLI, the
outages real ones: SoftHSM's whole token directory moved away (on SQLite and on PostgreSQL), and a
`p11-kit server` killed or stopped (SIGSTOP) in front of the token.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.daemon import Daemon, make_daemon, tool
from tests.factories import fresh_adult
from tests.proofs.p11kit import P11KitServer, require_p11_kit
from tests.store.conftest import (
    pg_database,  # noqa: F401 - the fixture, asked for by the PostgreSQL half of `home` alone
)

pytestmark = pytest.mark.integration

# What `customers show` says in its "HSM" row under the reason, and `list` after it.
CONSEQUENCE = "no login or signing, and no change to a customer, until it is back"


@dataclass
class Home:
    """A home with two customers: `active` with an app, `blocked` (lost phone); and what `list` and
    `show` printed of them with the HSM up."""

    daemon: Daemon
    database_url: str | None
    active: str
    blocked: str
    shown: dict[tuple[str, ...], str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.daemon.run("tillit-signer", "customers", *args, check=False)

    def audit_entries(self) -> int:
        if self.database_url:
            with psycopg.connect(self.database_url) as db:
                row = db.execute("SELECT count(*) FROM audit").fetchone()
        else:
            with sqlite3.connect(self.daemon.home / "signer.db") as lite:
                row = lite.execute("SELECT count(*) FROM audit").fetchone()
        assert row is not None
        return int(row[0])


def reads(home: Home) -> list[tuple[str, ...]]:
    """Every read support makes: the list and each customer, as text and as JSON."""
    shows = [("show", number) for number in (home.active, home.blocked)]
    return [("list",), ("list", "--json"), *shows, *[(*show, "--json") for show in shows]]


def answered(home: Home, *args: str) -> str:
    """A read's standard output; it must exit 0 with nothing on stderr."""
    result = home.run(*args)
    assert (result.returncode, result.stderr) == (0, ""), (args, result.returncode, result.stderr)
    return str(result.stdout)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def home(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Home:
    url = request.getfixturevalue("pg_database") if request.param == "postgresql" else None
    extra = {"TILLIT_DATABASE_URL": url} if url else {}
    d = make_daemon(tmp_path_factory.mktemp(f"no-hsm-{request.param}") / "home", **extra)
    active, blocked = fresh_adult(), fresh_adult()
    d.enrol(active)
    d.add_device(active)
    d.enrol(blocked, "Ola Nordmann")
    d.run("tillit-signer", "customers", "block", blocked, "--reason", "lost-phone", "--note", "lost on the bus")
    h = Home(d, url, active, blocked, {})
    h.shown = {args: answered(h, *args) for args in reads(h)}
    return h


@contextmanager
def token_store_away(d: Daemon) -> Iterator[None]:
    """SoftHSM's whole token directory moved away for the block: SoftHSM cannot even initialise."""
    tokens, away = d.home / "tokens", d.home / "tokens-away"
    shutil.move(tokens, away)
    try:
        yield
    finally:
        shutil.move(away, tokens)


def hsm_note(listed: list[dict[str, Any]] | dict[str, Any]) -> dict[str, str]:
    note = (listed[0] if isinstance(listed, list) else listed)["hsm"]
    assert note["status"] == "unavailable" and note["reason"], note
    return dict(note)


def check_reads_while_away(home: Home) -> None:
    """Every read answers, exit 0: the JSON is what it was with the HSM up plus the `hsm` field,
    the text what it was plus the HSM's lines, which give the same reason."""
    listed = json.loads(answered(home, "list", "--json"))
    note = hsm_note(listed)
    before = json.loads(home.shown[("list", "--json")])
    assert listed == [{**entry, "hsm": note} for entry in before]

    lines = answered(home, "list").splitlines()
    assert lines[:-1] == home.shown[("list",)].splitlines()
    assert lines[-1] == (
        f"HSM unavailable: {note['reason']}; {CONSEQUENCE}; this list is from the database and the CA ledger,"
        " which do not need the HSM"
    )

    for number in (home.active, home.blocked):
        shown = json.loads(answered(home, "show", number, "--json"))
        assert shown == {**json.loads(home.shown[("show", number, "--json")]), "hsm": note}
        text = answered(home, "show", number).splitlines()
        before_text = home.shown[("show", number)].splitlines()
        assert text[0] == before_text[0]
        assert text[1:4] == [
            f"  HSM              unavailable: {note['reason']}",
            f"                   {CONSEQUENCE}",
            "                   what follows is from the database and the CA ledger, which do not need the HSM",
        ]
        assert text[4:] == before_text[1:]


def test_with_the_hsm_up_nothing_says_hsm(home: Home) -> None:
    """With the HSM up the reads print what they always did: no `hsm` field, no HSM line; and what
    support needs is there (the status, the block and its reason, the app, the certificate)."""
    for args, out in home.shown.items():
        assert "hsm" not in out.lower(), (args, out)
    active = json.loads(home.shown[("show", home.active, "--json")])
    assert active["device"]["status"] == "active"
    assert active["certificate"]["status"] == "valid" and active["certificate"]["notAfter"]
    blocked = json.loads(home.shown[("show", home.blocked, "--json")])
    assert (blocked["status"], blocked["blockedReason"]) == ("blocked", "lost-phone: lost on the bus")
    assert (blocked["certificate"]["status"], blocked["certificate"]["reason"]) == ("revoked", "certificateHold")


def test_list_and_show_answer_while_the_token_store_is_away(home: Home) -> None:
    with token_store_away(home.daemon):
        check_reads_while_away(home)
    for args, out in home.shown.items():
        assert answered(home, *args) == out, f"{args} is not as before once the HSM is back"


CHANGES = [
    ("block", "{active}", "--reason", "lost-phone"),
    ("unblock", "{blocked}"),
    ("revoke-certificate", "{active}", "--reason", "keyCompromise"),
    ("reissue-certificate", "{active}"),
    ("unlock", "{active}"),
]


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: c[0])
def test_a_change_is_refused_in_one_line_while_the_token_store_is_away(home: Home, change: tuple[str, ...]) -> None:
    argv = [arg.format(active=home.active, blocked=home.blocked) for arg in change]
    entries = home.audit_entries()
    with token_store_away(home.daemon):
        refused = home.run(*argv)
    assert refused.returncode != 0 and refused.stdout == ""
    assert "Traceback" not in refused.stderr
    lines = refused.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tillit-signer: HSM: "), refused.stderr
    assert "token directory" in lines[0], lines[0]  # SoftHSM's own answer (CKR_GENERAL_ERROR) says nothing of it
    assert home.audit_entries() == entries
    for args, out in home.shown.items():
        assert answered(home, *args) == out, f"{args} changed"


def test_a_home_the_signer_never_used_is_left_alone(home: Home, tmp_path: Path) -> None:
    """A mistyped TILLIT_HOME, with no token. On SQLite there is no database to read there: refused
    with the HSM's error, as before, and no database is made. With PostgreSQL the customers are in
    the database whatever the home: listed, with the HSM unavailable. Nothing is made in the home."""
    nowhere = tmp_path / "typo"
    for args in reads(home):
        result = subprocess.run(
            [tool("tillit-signer"), "customers", *args],
            capture_output=True,
            text=True,
            env={**home.daemon.env, "TILLIT_HOME": str(nowhere)},
            timeout=60,
        )
        if home.database_url:
            assert (result.returncode, result.stderr) == (0, ""), (args, result.stderr)
            assert "HSM" in result.stdout or '"hsm"' in result.stdout, (args, result.stdout)
        else:
            assert result.returncode != 0 and result.stdout == "", (args, result.stdout)
            lines = result.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith("tillit-signer: HSM: "), result.stderr
    assert not nowhere.exists()


# -- a network HSM: `p11-kit server` in front of the token -----------------------------------------


@pytest.fixture
def behind_p11kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Home, P11KitServer]]:
    require_p11_kit()
    d = make_daemon(tmp_path_factory.mktemp("no-hsm-p11kit") / "home")
    server = P11KitServer(tmp_path_factory.mktemp("p11") / "hsm.sock", d.home / "softhsm2.conf")
    server.start()
    try:
        d.env.update(server.client_env())
        active, blocked = fresh_adult(), fresh_adult()
        d.enrol(active)
        d.enrol(blocked, "Ola Nordmann")
        d.run("tillit-signer", "customers", "block", blocked, "--reason", "customer-request")
        h = Home(d, None, active, blocked, {})
        h.shown = {args: answered(h, *args) for args in reads(h)}
        yield h, server
    finally:
        server.kill()


def test_list_and_show_answer_while_the_hsm_server_is_down_or_frozen(
    behind_p11kit: tuple[Home, P11KitServer],
) -> None:
    home, server = behind_p11kit
    server.kill()
    check_reads_while_away(home)
    refused = home.run("block", home.active, "--reason", "lost-phone")
    assert refused.returncode != 0 and len(refused.stderr.splitlines()) == 1, refused.stderr

    # Frozen: the server takes the connection and never answers. The reads wait 2 s for it, no more.
    server.start()
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        shown = json.loads(answered(home, "show", home.active, "--json"))
        assert time.monotonic() - started < 10
        assert shown["hsm"] == {"status": "unavailable", "reason": "the HSM did not answer within 2 s"}
        assert shown["certificate"]["status"] == "valid"
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    for args, out in home.shown.items():
        assert answered(home, *args) == out, f"{args} is not as before once the HSM is back"

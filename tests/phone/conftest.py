"""The phone's tests share one real daemon (this package's `daemon`), driven through the testers' kit."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.daemon import Daemon, free_port, make_daemon
from tillit.phone.pytest_plugin import TillitCustomer, TillitHome, TillitPhone, TillitSigner
from tillit.phone.testkit.commands import tool
from tillit.phone.testkit.signer import StreamWatcher


@pytest.fixture(scope="package")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One running signer for all of tests/phone (each test makes its own customers)."""
    # Kari (below) starts more orders than a customer may in a minute: lift the per-number rate limit.
    # The BankID RP API face on too, for the relying parties' orders the phone scans (test_scan.py).
    d = make_daemon(
        tmp_path_factory.mktemp("phone-daemon") / "home",
        TILLIT_RATE_ORDERS_PER_NUMBER="1000",
        TILLIT_RP_PORT=str(free_port()),
    )
    d.start()
    yield d
    d.stop()


def kit_for(d: Daemon, url: str | None = None) -> TillitSigner:
    """The testers' kit around one of the suite's daemons (optionally reached through another URL)."""
    return TillitSigner(TillitHome(d.home, d.env), url or d.url, d.kiosk_token)


@pytest.fixture(scope="package")
def kit(daemon: Daemon) -> TillitSigner:
    return kit_for(daemon)


@pytest.fixture(scope="package")
def kari(kit: TillitSigner) -> TillitCustomer:
    """One customer with an activated phone, shared by the tests that leave no order behind."""
    return kit.new_customer(name="Kari Nordmann")


@pytest.fixture
def kiosk(daemon: Daemon) -> Iterator[httpx.Client]:
    with daemon.kiosk() as k:
        yield k


def phone_of(customer: TillitCustomer) -> TillitPhone:
    assert customer.phone is not None
    return customer.phone


def start_login(kiosk: httpx.Client, number: str, **extra: Any) -> dict[str, Any]:
    r = kiosk.post("/v1/auth", json={"personalNumber": number, **extra})
    assert r.status_code == 200, r.text
    return dict(r.json())


def collect(kiosk: httpx.Client, ref: str) -> dict[str, Any]:
    r = kiosk.post("/v1/collect", json={"orderRef": ref})
    assert r.status_code == 200, r.text
    return dict(r.json())


def password(kiosk: httpx.Client, ref: str, text: str) -> dict[str, Any]:
    r = kiosk.post("/v1/password", json={"orderRef": ref, "password": text})
    assert r.status_code == 200, r.text
    return dict(r.json())


class Activation:
    """A `tillit-phone activate` running in the background, answering its prompts as the test learns them."""

    def __init__(self, home: TillitHome, profile: str, *args: str, pin: str = "2580") -> None:
        self.process = subprocess.Popen(
            [tool("tillit-phone"), "--profile", profile, "activate", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**home.env, "TILLIT_PHONE_PIN": pin},
        )
        assert self.process.stderr is not None and self.process.stdout is not None
        self.err = StreamWatcher(self.process.stderr)
        self.out = StreamWatcher(self.process.stdout)

    def wait_for(self, marker: str, timeout: float = 30) -> str:
        """Standard error so far, once it shows `marker` (a prompt, or a line such as "Reference:")."""
        if not self.err.wait_for(marker, timeout, lambda: self.process.poll() is None):
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"no {marker!r} from tillit-phone activate: {self.err.text()}")
        return self.err.text()

    def answer(self, *lines: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("".join(f"{line}\n" for line in lines).encode())
        self.process.stdin.flush()

    def finish(self, *lines: str, timeout: float = 60) -> tuple[int, str, str]:
        """Send the last answers, close standard input, and wait: (exit code, stdout, stderr)."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write("".join(f"{line}\n" for line in lines).encode())
            self.process.stdin.close()
        except BrokenPipeError:
            pass  # it has finished already
        try:
            self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            for watcher in (self.out, self.err):
                watcher.thread.join(5)
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()
        return self.process.returncode, self.out.text(), self.err.text()


def outbox_codes(home: TillitHome, mobile: str, email: str) -> tuple[str, str]:
    """The newest SMS and e-mail codes for this customer, as a tester reads them from the outbox."""
    import re

    messages = home.outbox()
    sms = [m for m in messages if m["channel"] == "sms" and m["recipient"] == mobile]
    mail = [m for m in messages if m["channel"] == "email" and m["recipient"] == email]
    assert sms and mail, json.dumps(messages)
    found_sms = re.search(r"\b\d{6}\b", sms[-1]["body"])
    found_mail = re.search(r"\b\d{6}\b", mail[-1]["body"])
    assert found_sms and found_mail
    return found_sms.group(), found_mail.group()


def write_file(path: Path, text: str) -> Path:
    path.write_text(text)
    return path

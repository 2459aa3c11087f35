"""Tillit's testers' kit: pytest fixtures for a throwaway signer and customers with activated phones.

Installed with Tillit as a `pytest11` entry point (named `tillit`), so a project that depends on Tillit
gets these fixtures without any import:

- `tillit_home` (session): a throwaway TILLIT_HOME with a SoftHSM token and a CA, made with the
  `tillit-hsm` commands. `.path`, `.env` (for subprocesses), `.run(tool, *args)`, `.outbox()`.
- `tillit_signer` (session): `tillit-signer serve` on 127.0.0.1 and a free port, with one kiosk.
  `.url`, `.kiosk_token`, `.kiosk()` (an `httpx.Client` with the kiosk's bearer token; close it, or use
  `with`), `.new_customer()`, `.enrol()`, `.activate()`, `.outbox()`.
- `tillit_customer`: a freshly enrolled customer (a synthetic number) whose phone was activated the
  way a customer does it: SMS and e-mail codes read from the signer's outbox, then the password.
  `.personal_number`, `.name`, `.password`, `.mobile`, `.email`, `.phone`.
- `tillit_phone`: that customer's phone (`TillitPhone`), driving the real `tillit-phone` command:
  `.approve(wait=10)`, `.decline(wait=10, reference=None)`, `.status()`, `.run(...)`.

Override the session fixture `tillit_settings` (a dict of TILLIT_* variables for the signer) to change
the signer's settings, e.g. `{"TILLIT_ORDER_TTL_SECONDS": "5"}`.

Everything goes through the commands and the HTTP API, as an integrator's tests would: this module
imports nothing of the signer or the HSM layer.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

DEFAULT_PASSWORD = "Fjord-Hest-2024"  # noqa: S105 (the synthetic customers' password)
DEFAULT_PIN = "2580"
CODE = re.compile(r"\b(\d{6})\b")

# Exit codes of `tillit-phone approve` / `decline`.
OUTCOMES = {0: "done", 1: "error", 2: "usage", 3: "nothingPending", 4: "expired", 5: "deactivated"}


class TillitError(AssertionError):
    """A Tillit command failed where the kit needed it to succeed."""


def tool(name: str) -> str:
    """The path of a Tillit command: beside this Python first (the virtualenv), then on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise TillitError(f"{name} is not installed (pip install tillit)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- synthetic customers --------------------------------------------------------------------------

_serial = itertools.count()
_K1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def _check_digit(digits: str, weights: tuple[int, ...]) -> int | None:
    k = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if k == 11 else None if k == 10 else k


def synthetic_number() -> str:
    """A valid synthetic national identity number (month + 80) of an adult, new on every call."""
    while True:
        n = next(_serial)
        day, month, year, individual = 1 + n % 28, 1 + (n // 28) % 12, 50 + (n // 336) % 50, (n * 7) % 500
        nine = f"{day:02d}{month + 80:02d}{year:02d}{individual:03d}"
        k1 = _check_digit(nine, _K1)
        k2 = None if k1 is None else _check_digit(f"{nine}{k1}", _K2)
        if k1 is not None and k2 is not None:
            return f"{nine}{k1}{k2}"


def latest_code(outbox: list[dict[str, Any]], channel: str, recipient: str) -> str:
    """The newest six-digit code sent on `channel` ("sms" or "email") to `recipient`."""
    for message in reversed(outbox):
        if message.get("channel") == channel and message.get("recipient") == recipient:
            found = CODE.search(str(message.get("body", "")))
            if found:
                return found.group(1)
    raise TillitError(f"no {channel} code for {recipient} in the outbox")


# -- the parts ------------------------------------------------------------------------------------


@dataclass
class TillitHome:
    """A TILLIT_HOME with its SoftHSM token and CA; `env` is what the Tillit commands run with."""

    path: Path
    env: dict[str, str]

    def run(
        self, name: str, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [tool(name), *args], input=stdin, capture_output=True, text=True, env=self.env, timeout=timeout
        )
        if check and result.returncode != 0:
            raise TillitError(f"{name} {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def outbox(self) -> list[dict[str, Any]]:
        """The SMS and e-mail the signer has 'sent' (`tillit-signer outbox list --json`), oldest first."""
        return list(json.loads(self.run("tillit-signer", "outbox", "list", "--json").stdout))


def make_home(path: Path, **settings: str) -> TillitHome:
    """Create a home: `tillit-hsm init` (a SoftHSM token) and `tillit-hsm ca init`."""
    path.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILLIT_") and k != "SOFTHSM2_CONF"}
    env.update({"TILLIT_HOME": str(path), "TILLIT_ALLOW_TEST_NUMBERS": "1", **settings})
    home = TillitHome(path, env)
    home.run("tillit-hsm", "init")
    home.run("tillit-hsm", "ca", "init")
    return home


@dataclass
class PhoneOutcome:
    """What one `tillit-phone approve`/`decline` did: its exit code, the request it printed, its stderr."""

    exit_code: int
    request: dict[str, Any] | None
    stderr: str

    @property
    def outcome(self) -> str:
        return OUTCOMES.get(self.exit_code, "error")

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass
class TillitPhone:
    """One phone profile, driven through the real `tillit-phone` command."""

    home: TillitHome
    profile: str
    pin: str = DEFAULT_PIN

    def run(
        self, *args: str, stdin: str | None = None, pin: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        env = {**self.home.env, "TILLIT_PHONE_PIN": self.pin if pin is None else pin}
        return subprocess.run(
            [tool("tillit-phone"), "--profile", self.profile, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )

    def _decide(self, command: str, wait: float, reference: str | None, pin: str | None) -> PhoneOutcome:
        args = [command, "--wait", f"{wait:g}"]
        if reference:
            args += ["--reference", reference]
        result = self.run(*args, pin=pin, timeout=wait + 60)
        printed = result.stdout.strip()
        return PhoneOutcome(result.returncode, json.loads(printed) if printed else None, result.stderr)

    def approve(self, wait: float = 10, reference: str | None = None, pin: str | None = None) -> PhoneOutcome:
        """ "Ja, det er meg" on the next pending request (waiting up to `wait` seconds for one)."""
        return self._decide("approve", wait, reference, pin)

    def decline(self, wait: float = 10, reference: str | None = None, pin: str | None = None) -> PhoneOutcome:
        """ "Nei, avvis" on the next pending request (waiting up to `wait` seconds for one)."""
        return self._decide("decline", wait, reference, pin)

    def status(self) -> dict[str, Any]:
        result = self.run("status", "--json")
        if result.returncode != 0:
            raise TillitError(f"tillit-phone status failed: {result.stderr.strip()}")
        return dict(json.loads(result.stdout))


@dataclass
class TillitCustomer:
    personal_number: str
    name: str
    password: str
    mobile: str
    email: str
    phone: TillitPhone | None = None


class StreamWatcher:
    """Collects a child's output in a thread, so a caller can wait for a prompt that ends no line."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.data = b""
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self.thread.start()

    def _pump(self, stream: IO[bytes]) -> None:
        while chunk := os.read(stream.fileno(), 4096):
            with self.changed:
                self.data += chunk
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def text(self) -> str:
        return self.data.decode(errors="replace")

    def wait_for(self, marker: str, timeout: float, alive: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + timeout
        with self.changed:
            while marker not in self.text():
                left = deadline - time.monotonic()
                if left <= 0 or (not alive() and not self.thread.is_alive()):
                    return False
                self.changed.wait(min(left, 0.2))
        return True


@dataclass
class TillitSigner:
    """A running signer (or one started elsewhere: pass process=None) and what a test does with it."""

    home: TillitHome
    url: str
    kiosk_token: str
    process: subprocess.Popen[bytes] | None = None
    _customers: itertools.count[int] = field(default_factory=itertools.count)

    def kiosk(self, timeout: float = 30) -> httpx.Client:
        """An HTTP client for the kiosk API (base URL and bearer token set). Close it, or use `with`."""
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.kiosk_token}"}, timeout=timeout)

    def outbox(self) -> list[dict[str, Any]]:
        return self.home.outbox()

    def enrol(
        self,
        personal_number: str | None = None,
        name: str = "Kari Nordmann",
        password: str = DEFAULT_PASSWORD,
        mobile: str | None = None,
        email: str | None = None,
    ) -> TillitCustomer:
        """`tillit-signer customers add` (the password on standard input); no phone yet."""
        n = next(self._customers)
        customer = TillitCustomer(
            personal_number=personal_number or synthetic_number(),
            name=name,
            password=password,
            mobile=mobile or f"+479{(os.getpid() * 1000 + n) % 10_000_000:07d}",
            email=email or f"customer-{os.getpid()}-{n}@example.no",
        )
        self.home.run(
            "tillit-signer",
            "customers",
            "add",
            "--personal-number",
            customer.personal_number,
            "--name",
            customer.name,
            "--mobile",
            customer.mobile,
            "--email",
            customer.email,
            "--password-stdin",
            stdin=customer.password + "\n",
        )
        return customer

    def activate(
        self, customer: TillitCustomer, profile: str | None = None, pin: str = DEFAULT_PIN, timeout: float = 60
    ) -> TillitPhone:
        """Activate a phone the sms-email way: `tillit-phone activate`, codes from the outbox, password."""
        phone = TillitPhone(self.home, profile or f"customer-{customer.personal_number}", pin)
        command = [tool("tillit-phone"), "--profile", phone.profile, "activate", "--server", self.url]
        command += ["--personal-number", customer.personal_number, "--method", "sms-email", "--json"]
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**self.home.env, "TILLIT_PHONE_PIN": pin},
        )
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        out, err = StreamWatcher(process.stdout), StreamWatcher(process.stderr)
        try:
            if not err.wait_for("SMS code:", timeout, lambda: process.poll() is None):
                raise TillitError(f"tillit-phone activate did not ask for the SMS code: {err.text().strip()}")
            outbox = self.outbox()
            sms = latest_code(outbox, "sms", customer.mobile)
            email = latest_code(outbox, "email", customer.email)
            process.stdin.write(f"{sms}\n{email}\n{customer.password}\n".encode())
            process.stdin.close()
            process.wait(timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            for watcher in (out, err):
                watcher.thread.join(5)
            process.stdout.close()
            process.stderr.close()
        if process.returncode != 0:
            raise TillitError(f"tillit-phone activate failed ({process.returncode}): {err.text().strip()}")
        customer.phone = phone
        return phone

    def new_customer(self, name: str = "Kari Nordmann", password: str = DEFAULT_PASSWORD) -> TillitCustomer:
        """A fresh enrolled customer with an activated phone."""
        customer = self.enrol(name=name, password=password)
        self.activate(customer)
        return customer

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_signer(home: TillitHome, kiosk_name: str = "Tillit test kiosk", startup: float = 60) -> TillitSigner:
    """`tillit-signer kiosks add`, then `tillit-signer serve` on a free loopback port, up when /healthz is."""
    token = home.run("tillit-signer", "kiosks", "add", "--name", kiosk_name).stdout.strip()
    port = free_port()
    log = open(home.path / "signer.log", "ab")  # noqa: SIM115 (the child writes to it until stopped)
    try:
        process = subprocess.Popen(
            [tool("tillit-signer"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=home.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    finally:
        log.close()
    signer = TillitSigner(home, f"http://127.0.0.1:{port}", token, process)
    deadline = time.monotonic() + startup
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TillitError(f"tillit-signer serve exited: {(home.path / 'signer.log').read_text()[-2000:]}")
        try:
            if httpx.get(signer.url + "/healthz", timeout=1).status_code == 200:
                return signer
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    signer.stop()
    raise TillitError("tillit-signer serve did not come up")


# -- the fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tillit_settings() -> Mapping[str, str]:
    """TILLIT_* settings for the kit's home and signer; override this fixture to change them."""
    return {}


@pytest.fixture(scope="session")
def tillit_home(tmp_path_factory: pytest.TempPathFactory, tillit_settings: Mapping[str, str]) -> TillitHome:
    """A throwaway TILLIT_HOME with a SoftHSM token and a CA (made by the `tillit-hsm` commands)."""
    return make_home(tmp_path_factory.mktemp("tillit") / "home", **tillit_settings)


@pytest.fixture(scope="session")
def tillit_signer(tillit_home: TillitHome) -> Iterator[TillitSigner]:
    """`tillit-signer serve` on 127.0.0.1 and a free port, with a kiosk token."""
    signer = start_signer(tillit_home)
    yield signer
    signer.stop()


@pytest.fixture
def tillit_customer(tillit_signer: TillitSigner) -> TillitCustomer:
    """A fresh enrolled customer whose phone is activated (SMS and e-mail codes from the outbox)."""
    return tillit_signer.new_customer()


@pytest.fixture
def tillit_phone(tillit_customer: TillitCustomer) -> TillitPhone:
    """The customer's phone: `.approve(wait=...)`, `.decline(...)`, `.status()` run `tillit-phone`."""
    assert tillit_customer.phone is not None
    return tillit_customer.phone

"""Tillit's testers' kit: pytest fixtures for a throwaway signer and customers with activated phones.

Installed with Tillit as a `pytest11` entry point (named `tillit`), so a project that depends on Tillit
(`pip install "tillit[testkit]"`) gets these fixtures without any import; docs/testers-kit.md is the
guide, with every argument:

- `tillit_settings` (session): `{}`; override it to give the signer TILLIT_* settings, e.g.
  `{"TILLIT_ORDER_TTL_SECONDS": "5"}`. The kit's commands run without the TILLIT_* variables (and
  SOFTHSM2_CONF) of the environment; pytest's header names those it left out.
- `tillit_home` (session): a throwaway TILLIT_HOME with a SoftHSM token and a CA, made with the
  `tillit-hsm` commands for a free loopback port chosen first (TILLIT_PORT and TILLIT_PUBLIC_URL),
  so the certificates' CRL and OCSP URLs point at the kit's signer. `.path`, `.env`, `.port`, `.public_url`,
  `.run(tool, *args)`, `.outbox()`.
- `tillit_signer` (session): `tillit-signer serve` on that port, with one kiosk. `.url`,
  `.kiosk_token`, `.kiosk_id`, `.kiosk()` (an `httpx.Client` with the kiosk's bearer token; close it,
  or use `with`), `.new_customer()`, `.enrol()`, `.activate()`, `.outbox()`, `.verify_completion()`.
- `tillit_customer`: a freshly enrolled customer (a synthetic number) whose phone was activated the
  way a customer does it: SMS and e-mail codes read from the signer's outbox, then the password.
  `.personal_number`, `.name`, `.password`, `.mobile`, `.email`, `.phone`.
- `tillit_phone`: that customer's phone (`TillitPhone`), driving the real `tillit-phone` command:
  `.approve(wait=10)`, `.decline(wait=10, reference=None)`, `.status()`, `.run(...)`.

A command that fails while a fixture is set up fails the test with one line (the command and what it
said), not a traceback.

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
from typing import IO, Any, TypeVar

import httpx
import pytest

DEFAULT_PASSWORD = "Fjord-Hest-2024"  # noqa: S105 (the synthetic customers' password)
DEFAULT_PIN = "2580"
CODE = re.compile(r"\b(\d{6})\b")
TRACEBACK = "Traceback (most recent call last):"

# Exit codes of `tillit-phone approve` / `decline`.
T = TypeVar("T")

OUTCOMES = {0: "done", 1: "error", 2: "usage", 3: "nothingPending", 4: "expired", 5: "deactivated"}


class TillitError(AssertionError):
    """A Tillit command failed where the kit needed it to succeed (the message is one line)."""


def command_failure(command: str, exit_code: int, stderr: str) -> TillitError:
    """A TillitError naming `command`, its exit code and, in one line, what it wrote on stderr: its
    last line, or after a Python traceback the exception with its text (the stack left out)."""
    lines = stderr.strip().splitlines()
    if TRACEBACK in lines:
        after = lines[len(lines) - lines[::-1].index(TRACEBACK) :]
        # The stack's lines are indented; the exception's own line is the first that is not.
        start = next((i for i, line in enumerate(after) if line and not line[0].isspace()), 0)
        said = " ".join(line.strip() for line in after[start:] if line.strip())
    else:
        said = next((line.strip() for line in reversed(lines) if line.strip()), "no message")
    return TillitError(f"{command} failed (exit code {exit_code}): {said}")


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
    """A TCP port free on 127.0.0.1 at the time of the call."""
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
    """A TILLIT_HOME with its SoftHSM token and CA.

    `path` is the directory, `env` the environment the Tillit commands run with (TILLIT_HOME and the
    kit's settings, none of the caller's TILLIT_* variables), `port` the loopback port its CA's
    certificates point at and its signer serves on (None: the port TILLIT_PORT names, or a free one).
    """

    path: Path
    env: dict[str, str]
    port: int | None = None

    @property
    def public_url(self) -> str:
        """The signer's public URL in this home, worked out as the signer does: TILLIT_PUBLIC_URL, else
        http://TILLIT_HOST:TILLIT_PORT. Its CA's certificates point under it; it is the tokens' `iss`."""
        if self.env.get("TILLIT_PUBLIC_URL"):
            return self.env["TILLIT_PUBLIC_URL"].rstrip("/")
        return f"http://{self.env.get('TILLIT_HOST', '127.0.0.1')}:{self.env.get('TILLIT_PORT', '8700')}"

    def run(
        self, name: str, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the Tillit command `name` (`tillit-signer`, `tillit-hsm`, ...) with `args` in this home.

        `stdin` is its standard input; with `check` (the default) an exit code other than 0 raises a
        TillitError of one line; `timeout` is in seconds. Returns the finished process (text output).
        """
        result = subprocess.run(
            [tool(name), *args], input=stdin, capture_output=True, text=True, env=self.env, timeout=timeout
        )
        if check and result.returncode != 0:
            raise command_failure(f"{name} {' '.join(args)}", result.returncode, result.stderr)
        return result

    def outbox(self) -> list[dict[str, Any]]:
        """The SMS and e-mail the signer has 'sent' (`tillit-signer outbox list --json`), oldest first:
        dicts with `channel` ("sms" or "email"), `recipient` and `body`, among others."""
        return list(json.loads(self.run("tillit-signer", "outbox", "list", "--json").stdout))


def dropped_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """The names in `environ` (default: this process's environment) the kit's commands run without:
    every TILLIT_* variable and SOFTHSM2_CONF, so that a tester's own setup never leaks in."""
    environ = os.environ if environ is None else environ
    return sorted(k for k in environ if k.startswith("TILLIT_") or k == "SOFTHSM2_CONF")


def make_home(path: Path, settings: Mapping[str, str] | None = None, port: int | None = None) -> TillitHome:
    """Create a home in `path`: `tillit-hsm init` (a SoftHSM token) and `tillit-hsm ca init`.

    `settings` are TILLIT_* variables (name -> text) for every command in the home, over the kit's
    own (TILLIT_ALLOW_TEST_NUMBERS=1, TILLIT_HOST, TILLIT_PORT, TILLIT_PUBLIC_URL). `port` is the
    loopback port its signer will serve on (default: a free one, chosen now): the CA writes
    http://127.0.0.1:<port> into its certificates, so their CRL and OCSP URLs point at that signer.
    Returns the home.
    """
    path.mkdir(parents=True, exist_ok=True)
    port = free_port() if port is None else port
    dropped = set(dropped_variables())
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        {
            "TILLIT_HOME": str(path),
            "TILLIT_ALLOW_TEST_NUMBERS": "1",
            "TILLIT_HOST": "127.0.0.1",
            "TILLIT_PORT": str(port),
            "TILLIT_PUBLIC_URL": f"http://127.0.0.1:{port}",
            **(settings or {}),
        }
    )
    home = TillitHome(path, env, port)
    home.run("tillit-hsm", "init")
    home.run("tillit-hsm", "ca", "init")
    return home


@dataclass
class PhoneOutcome:
    """What one `tillit-phone approve`/`decline` did: its `exit_code`, the `request` it printed (a dict
    with orderRef, reference, kind, method, kioskName, userVisibleData, documents, decision and
    outcome; None when it printed nothing) and its `stderr`."""

    exit_code: int
    request: dict[str, Any] | None
    stderr: str

    @property
    def outcome(self) -> str:
        """The exit code's name: done, error, usage, nothingPending, expired or deactivated."""
        return OUTCOMES.get(self.exit_code, "error")

    @property
    def ok(self) -> bool:
        """Whether the decision reached the signer (exit code 0)."""
        return self.exit_code == 0


@dataclass
class TillitPhone:
    """One phone profile (`profile`, its keys kept under `home`), driven through the real `tillit-phone`
    command with the app PIN `pin`."""

    home: TillitHome
    profile: str
    pin: str = DEFAULT_PIN

    def run(
        self, *args: str, stdin: str | None = None, pin: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """`tillit-phone --profile <profile> ARGS` with `stdin` as its input and the app PIN `pin` (default:
        the phone's) in TILLIT_PHONE_PIN; `timeout` in seconds. Returns the finished process, whatever
        its exit code (text output)."""
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
        """ "Ja, det er meg" on the next pending request: `tillit-phone approve`.

        `wait`: seconds to wait for a request to arrive; `reference`: only the request showing these
        words (as the kiosk shows them); `pin`: the app PIN to type (default: the phone's). Returns a
        PhoneOutcome; a wrong PIN or no pending request is an outcome, not an exception.
        """
        return self._decide("approve", wait, reference, pin)

    def decline(self, wait: float = 10, reference: str | None = None, pin: str | None = None) -> PhoneOutcome:
        """ "Nei, avvis" on the next pending request: `tillit-phone decline`, with the arguments of
        `approve`. Returns a PhoneOutcome."""
        return self._decide("decline", wait, reference, pin)

    def status(self) -> dict[str, Any]:
        """`tillit-phone status --json`: whether the phone is activated, for whom and since when, and
        the requests it answered. Raises TillitError when the command fails."""
        result = self.run("status", "--json")
        if result.returncode != 0:
            raise command_failure("tillit-phone status", result.returncode, result.stderr)
        return dict(json.loads(result.stdout))


@dataclass
class TillitCustomer:
    """An enrolled customer: what the kit enrolled them with, and their activated `phone` (None until
    `TillitSigner.activate`)."""

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
    """A running signer and what a test does with it.

    `home` is its TillitHome, `url` where the test reaches it, `kiosk_token` the bearer token of its
    kiosk and `kiosk_id` that kiosk's id (the completion tokens' audience; None if unknown),
    `process` the `tillit-signer serve` the kit started (None for a signer started elsewhere).
    """

    home: TillitHome
    url: str
    kiosk_token: str
    process: subprocess.Popen[bytes] | None = None
    kiosk_id: str | None = None
    _customers: itertools.count[int] = field(default_factory=itertools.count)

    def kiosk(self, timeout: float = 30) -> httpx.Client:
        """An HTTP client for the kiosk API: base URL and bearer token set, `timeout` in seconds for
        each request. Close it, or use `with`."""
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.kiosk_token}"}, timeout=timeout)

    def outbox(self) -> list[dict[str, Any]]:
        """The SMS and e-mail the signer has 'sent', oldest first (see `TillitHome.outbox`)."""
        return self.home.outbox()

    def verify_completion(self, token: str, audience: str | None = None) -> dict[str, Any]:
        """Verify a completion token (`completionData.token` of a complete order) with PyJWT, the way
        docs/testers-kit.md tells a relying party to, and return its claims.

        The key is the one of `GET /v1/keys` its header's `kid` names (ES256); the audience must be
        `audience` (default: this kiosk's id), the issuer the signer's public URL, and it must not
        have expired. Raises TillitError (one line) when it does not verify. Needs PyJWT
        (`pip install "tillit[testkit]"`).
        """
        try:
            import jwt
        except ImportError as e:
            raise TillitError('verify_completion needs PyJWT: pip install "tillit[testkit]"') from e
        audience = audience or self.kiosk_id
        if audience is None:
            raise TillitError("the kiosk's id is unknown: pass audience= (`tillit-signer kiosks list --json`)")
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            keys = jwt.PyJWKSet.from_dict(httpx.get(f"{self.url}/v1/keys", timeout=30).json())
            key = next((k for k in keys.keys if k.key_id == kid), None)
            if key is None:
                raise TillitError(f"no key in {self.url}/v1/keys has the token's kid {kid!r}")
            claims = jwt.decode(
                token,
                key=key,
                algorithms=["ES256"],
                audience=audience,
                issuer=self.home.public_url,
                options={"require": ["iss", "sub", "aud", "iat", "nbf", "exp", "jti"]},
            )
        except jwt.PyJWTError as e:
            raise TillitError(f"the completion token does not verify: {e}") from e
        return dict(claims)

    def enrol(
        self,
        personal_number: str | None = None,
        name: str = "Kari Nordmann",
        password: str = DEFAULT_PASSWORD,
        mobile: str | None = None,
        email: str | None = None,
    ) -> TillitCustomer:
        """Enrol a customer with `tillit-signer customers add` (the password on standard input); no phone yet.

        `personal_number`: an 11-digit national identity number (default: a new synthetic one, month
        + 80, which the kit's signer accepts); `name`; `password` (the BankID password, checked
        against the signer's password policy); `mobile` (+47 and 8 digits) and `email` (defaults:
        new ones on every call), where the activation codes go. Returns the TillitCustomer
        (`.phone` None). Raises TillitError (one line) when the command refuses.
        """
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
        """Activate a phone for `customer` the sms-email way, as the customer does: `tillit-phone activate`,
        the SMS and e-mail codes read from the outbox, then the customer's password.

        `profile`: the phone profile's name (default `customer-<personal number>`); `pin`: the app PIN
        it is given; `timeout`: seconds to wait for each step. Returns the TillitPhone, also set as
        `customer.phone`. Raises TillitError (one line) when the activation fails.
        """
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
                said = command_failure("tillit-phone activate", process.poll() or 0, err.text())
                raise TillitError(f"{said} (it did not ask for the SMS code)")
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
            raise command_failure("tillit-phone activate", process.returncode, err.text())
        customer.phone = phone
        return phone

    def new_customer(self, name: str = "Kari Nordmann", password: str = DEFAULT_PASSWORD) -> TillitCustomer:
        """A fresh customer with an activated phone: `enrol(name=name, password=password)`, then
        `activate`. Returns the TillitCustomer, its `.phone` set."""
        customer = self.enrol(name=name, password=password)
        self.activate(customer)
        return customer

    def stop(self) -> None:
        """Stop the signer the kit started (SIGTERM, then SIGKILL after 15 s); nothing for one it did not."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_signer(home: TillitHome, kiosk_name: str = "Tillit test kiosk", startup: float = 60) -> TillitSigner:
    """Start the signer of `home`: `tillit-signer kiosks add --name <kiosk_name>`, then `tillit-signer
    serve` on 127.0.0.1 and the home's port (the one its CA's certificates point at; a free one for a
    home without one). Waits up to `startup` seconds for /healthz. Returns the TillitSigner; raises
    TillitError (one line) when a command fails or the signer does not come up."""
    token = home.run("tillit-signer", "kiosks", "add", "--name", kiosk_name).stdout.strip()
    kiosks = json.loads(home.run("tillit-signer", "kiosks", "list", "--json").stdout)
    kiosk_id = next((k["id"] for k in reversed(kiosks) if k["name"] == kiosk_name), None)
    port = free_port() if home.port is None else home.port
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
    signer = TillitSigner(home, f"http://127.0.0.1:{port}", token, process, kiosk_id)
    deadline = time.monotonic() + startup
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log_text = (home.path / "signer.log").read_text(errors="replace")
            raise command_failure("tillit-signer serve", process.returncode, log_text)
        try:
            if httpx.get(signer.url + "/healthz", timeout=1).status_code == 200:
                return signer
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    signer.stop()
    raise TillitError("tillit-signer serve did not come up")


# -- the fixtures ---------------------------------------------------------------------------------


def failing_in_one_line(make: Callable[[], T]) -> T:
    """`make()`, a TillitError turned into a test failure of one line (no traceback of the kit)."""
    try:
        return make()
    except TillitError as e:
        failure = str(e)
    pytest.fail(failure, pytrace=False)  # outside `except`: no "during handling" chain in the report


def pytest_report_header(config: pytest.Config) -> str | None:
    """A line in pytest's header naming the variables of the environment the kit's commands run
    without, when there are any (pass settings through the `tillit_settings` fixture instead)."""
    dropped = dropped_variables()
    if not dropped:
        return None
    return f"tillit testers' kit: its signer runs without {', '.join(dropped)} (set them in tillit_settings)"


@pytest.fixture(scope="session")
def tillit_settings() -> Mapping[str, str]:
    """TILLIT_* settings (name -> text) for every command in the kit's home, its signer included;
    `{}` unless a project overrides this fixture. The environment's own TILLIT_* are not used."""
    return {}


@pytest.fixture(scope="session")
def tillit_home(tmp_path_factory: pytest.TempPathFactory, tillit_settings: Mapping[str, str]) -> TillitHome:
    """A throwaway TILLIT_HOME with a SoftHSM token and a CA for a free loopback port (`make_home`)."""
    return failing_in_one_line(lambda: make_home(tmp_path_factory.mktemp("tillit") / "home", tillit_settings))


@pytest.fixture(scope="session")
def tillit_signer(tillit_home: TillitHome) -> Iterator[TillitSigner]:
    """`tillit-signer serve` on 127.0.0.1 and the home's port, with one kiosk (`start_signer`);
    stopped at the end of the session."""
    signer = failing_in_one_line(lambda: start_signer(tillit_home))
    yield signer
    signer.stop()


@pytest.fixture
def tillit_customer(tillit_signer: TillitSigner) -> TillitCustomer:
    """A fresh enrolled customer whose phone is activated (`TillitSigner.new_customer()`)."""
    return failing_in_one_line(tillit_signer.new_customer)


@pytest.fixture
def tillit_phone(tillit_customer: TillitCustomer) -> TillitPhone:
    """The customer's phone: `.approve(wait=...)`, `.decline(...)`, `.status()` run `tillit-phone`."""
    assert tillit_customer.phone is not None
    return tillit_customer.phone

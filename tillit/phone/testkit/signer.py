"""`tillit-signer serve` for the kit: started, watched, asked for kiosks and customers, stopped."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from tillit.phone.testkit.commands import (
    DEFAULT_PASSWORD,
    DEFAULT_PIN,
    TillitError,
    command_failure,
    free_port,
    latest_code,
    synthetic_number,
    tool,
)
from tillit.phone.testkit.home import TillitHome
from tillit.phone.testkit.phone import TillitCustomer, TillitPhone
from tillit.phone.testkit.relying_party import TillitRelyingParty


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
            import jwt  # PyJWT comes with the testkit extra: needed only by this helper
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
        phone = TillitPhone(self.home, profile or f"customer-{customer.personal_number}", pin, customer.password)
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

    def add_relying_party(self, name: str = "Tillit test RP") -> TillitRelyingParty:
        """A relying party on the signer's BankID RP API face: `tillit-signer rps add --name <name>`, its
        certificate, key and CA file written under the home's `rps/` directory. `name` is what the phone
        shows as the requester (unique). Raises TillitError (one line) when the command refuses or the
        face is off (TILLIT_RP_PORT unset or 0)."""
        url = self.home.rp_url
        if url is None:
            raise TillitError("the signer's RP API face is off: TILLIT_RP_PORT is unset or 0 in tillit_settings")
        (self.home.path / "rps").mkdir(exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="rp-", dir=self.home.path / "rps"))
        self.home.run("tillit-signer", "rps", "add", "--name", name, "--out", str(folder))
        return TillitRelyingParty(name, folder / "rp.crt", folder / "rp.key", folder / "ca.pem", url)

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

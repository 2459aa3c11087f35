"""A customer's phone driven through the real `tillit-phone` command, and the customer."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from typing import Any

from tillit.phone.testkit.commands import (
    DEFAULT_PASSWORD,
    DEFAULT_PIN,
    OUTCOMES,
    command_failure,
    tool,
)
from tillit.phone.testkit.home import TillitHome


@dataclass
class PhoneOutcome:
    """What one `tillit-phone approve`/`decline`/`scan`/`autostart` did: its `exit_code`, the `request` it
    printed (a dict with orderRef, reference, kind, method, kioskName, userVisibleData,
    userVisibleDataFormat, passwordBy, documents, decision and outcome; None when it printed nothing)
    and its `stderr`."""

    exit_code: int
    request: dict[str, Any] | None
    stderr: str

    @property
    def outcome(self) -> str:
        """The exit code's name: done, error, usage, nothingPending, expired, deactivated or passwordLocked."""
        return OUTCOMES.get(self.exit_code, "error")

    @property
    def ok(self) -> bool:
        """Whether the decision reached the signer (exit code 0)."""
        return self.exit_code == 0


@dataclass
class TillitPhone:
    """One phone profile (`profile`, its keys kept under `home`), driven through the real `tillit-phone`
    command with the app PIN `pin`; `password` is the BankID password it types when the phone asks it
    (a relying party's orders: `passwordBy` "phone")."""

    home: TillitHome
    profile: str
    pin: str = DEFAULT_PIN
    password: str = DEFAULT_PASSWORD

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

    def _answer(self, args: list[str], pin: str | None, password: str | None, timeout: float = 60) -> PhoneOutcome:
        # The password is read only when the phone asks it; a wrong one asked again meets the input's end.
        stdin = (self.password if password is None else password) + "\n"
        result = self.run(*args, stdin=stdin, pin=pin, timeout=timeout)
        printed = result.stdout.strip()
        return PhoneOutcome(result.returncode, json.loads(printed) if printed else None, result.stderr)

    def _decide(
        self, command: str, wait: float, reference: str | None, pin: str | None, password: str | None = None
    ) -> PhoneOutcome:
        args = [command, "--wait", f"{wait:g}"]
        if reference:
            args += ["--reference", reference]
        return self._answer(args, pin, password, timeout=wait + 60)

    def approve(
        self, wait: float = 10, reference: str | None = None, pin: str | None = None, password: str | None = None
    ) -> PhoneOutcome:
        """ "Ja, det er meg" on the next pending request: `tillit-phone approve`.

        `wait`: seconds to wait for a request to arrive; `reference`: only the request showing these
        words (as the kiosk shows them); `pin`: the app PIN to type (default: the phone's);
        `password`: the BankID password to type if the phone asks it (a relying party's order;
        default: the phone's). Returns a PhoneOutcome; a wrong PIN or no pending request is an
        outcome, not an exception.
        """
        return self._decide("approve", wait, reference, pin, password)

    def scan(
        self, qr_content: str, decline: bool = False, pin: str | None = None, password: str | None = None
    ) -> PhoneOutcome:
        """Scan a relying party's animated QR code (`qr_content`, bankid.<token>.<seconds>.<code>, e.g.
        pybankid's `generate_qr_code_content`): `tillit-phone scan`, which approves the order it
        starts (or declines it, with `decline`) and types `password` when the phone asks it (default:
        the phone's). Returns a PhoneOutcome; a refused code is an outcome, not an exception."""
        return self._answer(["scan", qr_content, "--decline" if decline else "--approve"], pin, password)

    def autostart(
        self, token: str, decline: bool = False, pin: str | None = None, password: str | None = None
    ) -> PhoneOutcome:
        """Start the app with an order's `autoStartToken`: `tillit-phone autostart`, as `scan`."""
        return self._answer(["autostart", token, "--decline" if decline else "--approve"], pin, password)

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

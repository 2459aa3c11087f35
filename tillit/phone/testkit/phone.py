"""A customer's phone driven through the real `tillit-phone` command, and the customer."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from typing import Any

from tillit.phone.testkit.commands import (
    DEFAULT_PIN,
    OUTCOMES,
    command_failure,
    tool,
)
from tillit.phone.testkit.home import TillitHome


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

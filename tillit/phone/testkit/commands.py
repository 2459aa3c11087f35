"""How the kit runs Tillit's commands and what it makes up for them: the commands' paths, a free
port, a failure in one line, synthetic national identity numbers, codes read from the outbox."""

from __future__ import annotations

import itertools
import re
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

from tillit.numbers import check_digits

DEFAULT_PASSWORD = "Fjord-Hest-2024"  # noqa: S105 (the synthetic customers' password)
DEFAULT_PIN = "2580"
CODE = re.compile(r"\b(\d{6})\b")
TRACEBACK = "Traceback (most recent call last):"

# Exit codes of `tillit-phone approve` / `decline` / `scan` / `autostart`.
OUTCOMES = {
    0: "done",
    1: "error",
    2: "usage",
    3: "nothingPending",
    4: "expired",
    5: "deactivated",
    6: "passwordLocked",
}


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


_serial = itertools.count()


def synthetic_number() -> str:
    """A valid synthetic national identity number (month + 80) of an adult, new on every call."""
    while True:
        n = next(_serial)
        day, month, year, individual = 1 + n % 28, 1 + (n // 28) % 12, 50 + (n // 336) % 50, (n * 7) % 500
        nine = f"{day:02d}{month + 80:02d}{year:02d}{individual:03d}"
        check = check_digits(nine)
        if check is not None:
            return f"{nine}{check}"


def latest_code(outbox: list[dict[str, Any]], channel: str, recipient: str) -> str:
    """The newest six-digit code sent on `channel` ("sms" or "email") to `recipient`."""
    for message in reversed(outbox):
        if message.get("channel") == channel and message.get("recipient") == recipient:
            found = CODE.search(str(message.get("body", "")))
            if found:
                return found.group(1)
    raise TillitError(f"no {channel} code for {recipient} in the outbox")

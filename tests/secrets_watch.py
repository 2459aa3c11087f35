"""Watching for secrets on every process's command line (`/proc/*/cmdline`) and in the logs.

`ArgvWatch` samples the command lines while it runs; the proofs use it closely around one flow
(tests/proofs/test_secrets.py) and tests/conftest.py around the whole session, against the secrets
every test uses: the test password and every HSM PIN that a test's `tillit-hsm init` generated.
"""

from __future__ import annotations

import contextlib
import re
import threading
from pathlib import Path


class ArgvWatch:
    """Samples the command lines of every process while it runs."""

    def __init__(self, interval: float = 0.02) -> None:
        self.seen: set[str] = set()
        self.samples = 0
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="argv-watch", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for proc in Path("/proc").iterdir():
                if proc.name.isdigit():
                    with contextlib.suppress(OSError):
                        self.seen.add((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> ArgvWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def typed_by_a_test(command_line: str) -> bool:
    """Command lines that carry what a test types as a person would (tmux send-keys into the
    kiosk): the tests' own words, not the project's."""
    return command_line.startswith(("tmux ", "/usr/bin/tmux "))


def contains(text: str, secret: str) -> bool:
    """`secret` in `text`; a PIN of digits only as a number of its own (not inside a longer one, such
    as the nanoseconds in a file name)."""
    if secret.isdigit():
        return re.search(rf"(?<!\d){secret}(?!\d)", text) is not None
    return secret in text


def leaks(watch: ArgvWatch, secrets: dict[str, str], logs: list[Path]) -> list[str]:
    found = [
        f"{what} in the command line {line[:120]!r}"
        for line in watch.seen
        if not typed_by_a_test(line)
        for what, value in secrets.items()
        if value and contains(line, value)
    ]
    for log in logs:
        text = log.read_text(errors="replace")
        found += [f"{what} in {log}" for what, value in secrets.items() if len(value) >= 10 and value in text]
    return found

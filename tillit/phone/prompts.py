"""Asking the phone's user for PINs, codes and passwords: never from argv, never echoed.

On a terminal each answer is typed at a hidden prompt. When standard input is not a terminal (a
script, a test, a pipe) each prompt is written to standard error and its answer is the next line of
standard input, so `printf '123456\\n654321\\nFjord-Hest-2024\\n' | tillit-phone activate ...` works,
and a script can feed the lines one by one as it learns them (from the outbox, for instance).
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import TextIO

PIN_ENV = "TILLIT_PHONE_PIN"


class PromptError(Exception):
    """No answer could be read (end of input, or the two entries of a new PIN differ)."""


class Prompter:
    def __init__(self, stdin: TextIO | None = None, stderr: TextIO | None = None, tty: bool | None = None) -> None:
        self.stdin = stdin or sys.stdin
        self.stderr = stderr or sys.stderr
        self.tty = self.stdin.isatty() if tty is None else tty

    def line(self, label: str) -> str:
        """The next line of standard input, announced on standard error (the answer is not echoed)."""
        self.stderr.write(f"{label}: ")
        self.stderr.flush()
        text = self.stdin.readline()
        self.stderr.write("\n")
        self.stderr.flush()
        if not text:
            raise PromptError(f"no answer for '{label}' on standard input")
        return text.rstrip("\r\n")

    def secret(self, label: str, confirm: bool = False) -> str:
        """A secret: hidden prompt on a terminal, else one line of standard input."""
        if not self.tty:
            return self.line(label)
        try:
            value = getpass.getpass(f"{label}: ", stream=self.stderr)
            if confirm and getpass.getpass(f"{label} (again): ", stream=self.stderr) != value:
                raise PromptError("the two entries differ")
        except EOFError:
            raise PromptError(f"no answer for '{label}'") from None
        return value

    def say(self, text: str) -> None:
        self.stderr.write(text + "\n")
        self.stderr.flush()


def app_pin(prompter: Prompter, from_stdin: bool, label: str = "App PIN", new: bool = False) -> str:
    """The app PIN: $TILLIT_PHONE_PIN unless --pin-stdin, else the next line of stdin or a hidden prompt."""
    pin = os.environ.get(PIN_ENV)
    if pin and not from_stdin:
        return pin
    return prompter.secret(label, confirm=new and prompter.tty)

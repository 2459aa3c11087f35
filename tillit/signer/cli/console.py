"""What the `tillit-signer` commands read from and write to the administrator's terminal."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from tillit.signer import errors


def print_result(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    """`data` as indented JSON with --json, else as `text` renders it for people."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else text(data))


def read_secret(prompt: str, from_stdin: bool, confirm: bool = False) -> str:
    """A secret from standard input (one line) or a prompt; never from argv."""
    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise errors.InvalidInput(f"expected {prompt.lower()} on standard input")
        return line.rstrip("\n")
    value = getpass.getpass(f"{prompt}: ")
    if confirm and getpass.getpass(f"{prompt} again: ") != value:
        raise errors.InvalidInput("the two entries differ")
    return value

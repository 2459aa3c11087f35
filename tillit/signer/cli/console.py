"""What the `tillit-signer` commands read from and write to the administrator's terminal."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from tillit.signer import errors

JSON_HELP = "Print JSON instead of text."


def print_result(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    """`data` as indented JSON with --json, else as `text` renders it for people."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else text(data))


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """`n` and the noun in its number: "1 entry", "2 entries"."""
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


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


@contextlib.contextmanager
def new_files(
    directory: Path, names: Sequence[str], *, replace: bool = False, if_taken: str = "choose another folder"
) -> Iterator[dict[str, Path]]:
    """Where to write the files `names` in `directory`, all of them or none, checked before the body
    changes anything: the directory is made (with its parents) and a file of each name is created
    in it under a temporary name (0600), and unless `replace` none of `names` may exist there yet
    (InvalidInput, ending with the advice `if_taken`). The body writes the temporary paths it is
    given, keyed by name; when it returns they take their names, when it raises they are removed
    with the directories made here.

    A command that writes its results to files after changing the store or the token uses this so
    that a folder it cannot write stops it before the change, and a failed change leaves no files."""
    made = [p for p in (directory, *directory.parents) if not p.exists()]
    if not replace:
        taken = [name for name in names if (directory / name).exists()]
        if taken:
            raise errors.InvalidInput(f"{directory / taken[0]} exists; {if_taken}")
    directory.mkdir(parents=True, exist_ok=True)
    partial = {name: directory / f".{name}.partial" for name in names}
    created: list[Path] = []
    try:
        for path in partial.values():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
            created.append(path)
        yield partial
        for name, path in partial.items():
            os.replace(path, directory / name)
    except BaseException:
        for path in created:
            path.unlink(missing_ok=True)
        for folder in made:  # the deepest first: each is empty once those below it are gone
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise

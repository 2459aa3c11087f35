"""The schema's migrations: one SQL file each, `NNNN_what_it_does.sql`, applied in number order.

`MIGRATIONS[n - 1]` is migration n. A store records in `schema_version` the numbers it has applied
and, when it opens, runs the ones after the highest (`SqliteStore`, `PostgresStore`), so a released
file must never change: add a new file with the next number instead.

A file is its SQL comment lines (`-- ...`) at the top, which say what the migration is for, then
the script exactly as it is run: statements separated by `;`, written once in the subset both
engines share (INTEGER, REAL, TEXT, BLOB; `store.postgres.postgres_ddl` turns them into
PostgreSQL's types and refuses SQLite-only constructs). The comments are left out of the script
because the stores split it on `;` and the DDL translation would read them as SQL.

The files are package data (`*.sql` in pyproject.toml), read with importlib.resources so that an
installed Tillit finds them as a checkout does.
"""

from __future__ import annotations

import re
from importlib.resources import files
from importlib.resources.abc import Traversable

_FILE_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


def load_migrations(folder: Traversable | None = None) -> tuple[str, ...]:
    """The scripts of the migration files in `folder` (by default this package's) in number order,
    each without its leading comment lines.

    Raises ValueError when the numbers are not 1, 2, 3... without a gap or a repeat (two changes
    that each added "the next" migration, say)."""
    numbered: list[tuple[int, str]] = []
    for entry in (folder or files(__name__)).iterdir():
        found = _FILE_NAME.fullmatch(entry.name)
        if found:
            numbered.append((int(found.group(1)), entry.read_text(encoding="utf-8")))
    numbered.sort(key=lambda pair: pair[0])
    numbers = [number for number, _ in numbered]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ValueError(f"migration files must be numbered 1 to {len(numbers)} once each, found {numbers}")
    return tuple(_without_header(text) for _, text in numbered)


def _without_header(text: str) -> str:
    lines = text.splitlines(keepends=True)
    first_sql = next((i for i, line in enumerate(lines) if not line.startswith("--")), len(lines))
    return "".join(lines[first_sql:])


MIGRATIONS = load_migrations()

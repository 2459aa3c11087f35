"""What every area of a transaction's queries stands on: the cursor, the SQL dialect, rows to records.

The areas (`customers.py`, `devices.py`, `orders.py`...) are mixins of `Queries`; `store.tx.Tx`
combines them into the one transaction object the rest of the signer uses.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import fields
from typing import Any, TypeVar

Record = TypeVar("Record")


class Queries:
    """A transaction's cursor and the dialect its SQL is run in.

    SQL is written once with `?` placeholders: `placeholder` is what the driver wants instead, and
    `for_update` is appended to the reads whose row the caller then changes from what it read (a
    read-modify-write). SQLite serialises whole transactions (`BEGIN IMMEDIATE`), so it needs no row
    lock and passes ""; PostgreSQL runs transactions concurrently at READ COMMITTED and passes
    " FOR UPDATE".
    """

    def __init__(self, cursor: Any, placeholder: str = "?", for_update: str = "") -> None:
        self._cur = cursor
        self._ph = placeholder
        self._for_update = for_update

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self._ph != "?":
            sql = sql.replace("?", self._ph)
        self._cur.execute(sql, tuple(params))
        return self._cur

    def _lock_key(self, scope: str, key: str) -> None:
        """Hold a lock on (`scope`, `key`) until this transaction ends, for a read-then-write on rows
        that may not exist yet. SQLite serialises whole transactions, so nothing to do here;
        `PgTx` takes an advisory lock."""

    def _one(self, cls: type[Record], sql: str, params: Sequence[Any]) -> Record | None:
        row = self.execute(sql, params).fetchone()
        return cls(*_decode(row)) if row else None

    def _all(self, cls: type[Record], sql: str, params: Sequence[Any] = ()) -> list[Record]:
        return [cls(*_decode(r)) for r in self.execute(sql, params).fetchall()]

    def _insert(self, table: str, record: Any, on_conflict: str = "") -> Any:
        """INSERT the record's fields into the table's columns of the same names; the cursor, whose
        `rowcount` says whether a row went in when `on_conflict` is an ON CONFLICT clause."""
        kind: type = type(record)
        return self.execute(
            f"INSERT INTO {table} ({columns(kind)}) VALUES ({_placeholders(kind)}){on_conflict}", _field_values(record)
        )


@functools.cache
def columns(cls: type) -> str:
    """The record class's fields as a column list, "id, name, ...": what a query of its rows selects."""
    return ", ".join(f.name for f in fields(cls))


@functools.cache
def _placeholders(cls: type) -> str:
    return ",".join("?" * len(fields(cls)))


def _field_values(record: Any) -> list[Any]:
    return [getattr(record, f.name) for f in fields(record)]


def _decode(row: Sequence[Any]) -> list[Any]:
    # A driver may read a BYTEA or BLOB as a memoryview (psycopg's binary format does); records hold bytes.
    return [bytes(v) if isinstance(v, memoryview) else v for v in row]

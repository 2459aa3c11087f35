"""Fixtures of the store suite: every test that takes `backend` or `store` runs on SQLite and on PostgreSQL.

PostgreSQL comes from TILLIT_TEST_DATABASE_URL, a postgresql:// URL of a server where the tests may
create databases (scripts/test starts a throwaway cluster and sets it). Each test module gets a fresh
database; each test a fresh schema in it (through search_path), so no test sees another's rows, and
each one migrates from nothing.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from tillit.signer.store.base import Store
from tillit.signer.store.sqlite import SqliteStore

PG_ENV = "TILLIT_TEST_DATABASE_URL"
PG_SKIP = f"needs PostgreSQL: set {PG_ENV} to a postgresql:// URL (scripts/test starts a cluster and sets it)"


def pg_admin_url() -> str:
    url = os.environ.get(PG_ENV, "")
    if not url:
        pytest.skip(PG_SKIP)
    return url


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def with_param(url: str, key: str, value: str) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, f"{key}={quote(value, safe='')}") if q)
    return urlunsplit(parts._replace(query=query))


def pg_query(url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """The rows of one statement on the database at `url` (a test's look behind the daemons' backs)."""
    with psycopg.connect(url) as conn:
        return conn.execute(statement, params).fetchall()  # type: ignore[arg-type]


def audit_count(url: str, event: str, subject: str) -> int:
    """How many audit entries of `event` name `subject` in the database at `url`."""
    return int(pg_query(url, "SELECT COUNT(*) FROM audit WHERE event=%s AND subject=%s", event, subject)[0][0])


@pytest.fixture(scope="module")
def pg_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database for this test module; its URL."""
    admin = pg_admin_url()
    module = re.sub(r"[^a-z0-9]+", "_", request.module.__name__.rsplit(".", 1)[-1].lower())[:30]
    name = f"tillit_{module}_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass
class Backend:
    """Where a test's stores live; `open()` gives another store on the same data (another instance)."""

    name: str
    location: str
    opened: list[Store] = field(default_factory=list)

    def open(self) -> Store:
        store: Store
        if self.name == "sqlite":
            store = SqliteStore(Path(self.location))
        else:
            from tillit.signer.store.postgres import PostgresStore

            store = PostgresStore(self.location, max_size=24)
        self.opened.append(store)
        return store

    def close_all(self) -> None:
        while self.opened:
            self.opened.pop().close()


@contextmanager
def pg_backend_for(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """A fresh schema in the module's database (skips when there is no PostgreSQL)."""
    database = request.getfixturevalue("pg_database")
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    b = Backend("postgresql", with_param(database, "options", f"-csearch_path={schema}"))
    try:
        yield b
    finally:
        b.close_all()
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "postgresql":
        with pg_backend_for(request) as b:
            yield b
        return
    b = Backend("sqlite", str(tmp_path / "signer.db"))
    try:
        yield b
    finally:
        b.close_all()


@pytest.fixture
def pg_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """PostgreSQL only (for what SQLite has no counterpart of: LISTEN/NOTIFY, concurrent migration)."""
    with pg_backend_for(request) as b:
        yield b


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()

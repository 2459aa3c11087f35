"""The migrations: written once, applied the same on both engines, to the same schema."""

from __future__ import annotations

import secrets
import sqlite3
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from tests.store import builders as b
from tests.store.conftest import Backend
from tillit.config import ConfigError
from tillit.hsm.ca_ledger_pg import PostgresCaLedger
from tillit.signer.store.base import Store
from tillit.signer.store.migrations import MIGRATIONS
from tillit.signer.store.postgres import PostgresStore, postgres_ddl
from tillit.signer.store.sqlite import SqliteStore

# -- the translation ------------------------------------------------------------------------------------


def test_sqlite_types_become_postgresql_types_of_the_same_size() -> None:
    ddl = postgres_ddl(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0, at REAL, body BLOB, name TEXT);"
    )
    assert ddl == (
        "CREATE TABLE t (id BIGSERIAL PRIMARY KEY, n BIGINT NOT NULL DEFAULT 0, at DOUBLE PRECISION, body BYTEA,"
        " name TEXT);"
    )


def test_string_literals_are_left_alone() -> None:
    ddl = postgres_ddl("ALTER TABLE t ADD COLUMN role TEXT NOT NULL DEFAULT 'REAL INTEGER ''BLOB''';")
    assert ddl == "ALTER TABLE t ADD COLUMN role TEXT NOT NULL DEFAULT 'REAL INTEGER ''BLOB''';"


@pytest.mark.parametrize(
    "script",
    [
        "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT)",
        "PRAGMA foreign_keys=ON",
        "CREATE TABLE t (id TEXT PRIMARY KEY) WITHOUT ROWID",
        "INSERT OR IGNORE INTO t VALUES (1)",
    ],
)
def test_sqlite_only_constructs_are_refused(script: str) -> None:
    with pytest.raises(ValueError, match="SQLite-only"):
        postgres_ddl(script)


def test_every_migration_translates() -> None:
    for number, script in enumerate(MIGRATIONS, start=1):
        ddl = postgres_ddl(script)
        assert " REAL" not in ddl and "BLOB" not in ddl and " INTEGER" not in ddl, number


# -- applying them ------------------------------------------------------------------------------------


def version_rows(backend: Backend) -> list[int]:
    if backend.name == "sqlite":
        db = sqlite3.connect(backend.location)
        try:
            return [r[0] for r in db.execute("SELECT version FROM schema_version ORDER BY version")]
        finally:
            db.close()
    with psycopg.connect(backend.location) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")]


def test_a_new_store_is_at_the_latest_version_and_reopens_without_migrating(backend: Backend) -> None:
    first = backend.open()
    assert first.schema_version == len(MIGRATIONS)  # type: ignore[attr-defined]
    c = b.customer()
    with first.tx() as tx:
        tx.insert_customer(c)
        tx.audit("customer.enrolled", c.id, b.T0)
    first.close()
    backend.opened.remove(first)
    again = backend.open()
    assert again.schema_version == len(MIGRATIONS)  # type: ignore[attr-defined]
    assert version_rows(backend) == list(range(1, len(MIGRATIONS) + 1))
    with again.tx() as tx:
        assert tx.customer(c.id) == c
        assert len(tx.audit_entries()) == 1


def test_an_older_database_is_migrated_and_keeps_its_rows(backend: Backend) -> None:
    """A database made by migrations 1-3 only (as an older release left it) moves to the latest."""
    old = 3
    cid = "c-old"
    insert = (
        "INSERT INTO customers (id, personal_number, name, mobile, email, born, password_hash, status, key_label,"
        " created_at) VALUES ('c-old', '13897248098', 'Kari', '+4791234567', 'k@example.no', '1972-09-13', 'h',"
        " 'active', 'customer:c-old', 1.5)"
    )
    if backend.name == "sqlite":
        db = sqlite3.connect(backend.location)
        try:
            db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            for number, script in enumerate(MIGRATIONS[:old], start=1):
                db.executescript(script)
                db.execute("INSERT INTO schema_version VALUES (?)", (number,))
            db.execute(insert)
            db.commit()
        finally:
            db.close()
    else:
        with psycopg.connect(backend.location, autocommit=True) as conn:
            conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            for number, script in enumerate(MIGRATIONS[:old], start=1):
                for statement in postgres_ddl(script).split(";"):
                    if statement.strip():
                        conn.execute(statement)  # type: ignore[call-overload]
                conn.execute("INSERT INTO schema_version VALUES (%s)", (number,))
            conn.execute(insert)
    store = backend.open()
    assert store.schema_version == len(MIGRATIONS)  # type: ignore[attr-defined]
    assert version_rows(backend) == list(range(1, len(MIGRATIONS) + 1))
    with store.tx() as tx:
        got = tx.customer(cid)
    assert got is not None and got.key_generation == 1 and got.blocked_reason is None  # migration 4's defaults
    assert got.failed_passwords == 0 and got.created_at == 1.5


def test_a_database_newer_than_the_code_is_refused(backend: Backend) -> None:
    """A rollback after an upgrade: the database has a migration this code does not know."""
    backend.open()
    newer = len(MIGRATIONS) + 1
    if backend.name == "sqlite":
        db = sqlite3.connect(backend.location)
        try:
            db.execute("INSERT INTO schema_version VALUES (?)", (newer,))
            db.commit()
        finally:
            db.close()
    else:
        with psycopg.connect(backend.location, autocommit=True) as conn:
            conn.execute("INSERT INTO schema_version VALUES (%s)", (newer,))
    with pytest.raises(ConfigError, match=f"schema version {newer}, newer than this Tillit's {len(MIGRATIONS)}"):
        backend.open()


def test_a_role_without_create_runs_a_database_its_owner_migrated(pg_backend: Backend) -> None:
    """The owner migrates (and sets up the CA ledger) once; a role that may only read and write rows
    then runs the daemon and the commands. On a database nobody migrated it gets one line."""
    pg_backend.open()
    PostgresCaLedger(pg_backend.location).close()
    role, secret = f"tillit_rw_{secrets.token_hex(3)}", secrets.token_hex(8)
    with psycopg.connect(pg_backend.location, autocommit=True) as conn:
        row = conn.execute("SELECT current_schema()").fetchone()
        assert row is not None
        schema, name = sql.Identifier(row[0]), sql.Identifier(role)
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(name, sql.Literal(secret)))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, name))
        conn.execute(
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(schema, name)
        )
        conn.execute(sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(schema, name))
    parts = urlsplit(pg_backend.location)
    as_role = urlunsplit(parts._replace(netloc=f"{role}:{secret}@{parts.hostname}:{parts.port}"))
    try:
        store = PostgresStore(as_role, max_size=2)
        try:
            with store.tx() as tx:
                tx.insert_customer(b.customer())
        finally:
            store.close()
        PostgresCaLedger(as_role).close()
        with psycopg.connect(pg_backend.location, autocommit=True) as conn:
            conn.execute("DROP TABLE schema_version")  # as if nobody had migrated it
        with pytest.raises(ConfigError, match="may not migrate the schema"):
            PostgresStore(as_role, max_size=2)
    finally:
        with psycopg.connect(pg_backend.location, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


# -- one schema on both engines -----------------------------------------------------------------------

PG_TYPE = {"TEXT": "text", "INTEGER": "bigint", "REAL": "double precision", "BLOB": "bytea"}


def sqlite_schema(path: Path) -> dict[str, list[tuple[str, str, bool]]]:
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        schema = {}
        for table in tables:
            columns = db.execute(f"PRAGMA table_info({table})").fetchall()
            # SQLite lets a non-INTEGER primary key hold NULL; PostgreSQL does not: compare pk as NOT NULL.
            schema[table] = [(c[1], PG_TYPE[c[2]], bool(c[3] or c[5])) for c in columns]
        return schema
    finally:
        db.close()


def postgres_schema(url: str) -> dict[str, list[tuple[str, str, bool]]]:
    with psycopg.connect(url) as conn:
        rows: list[Any] = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable = 'NO' FROM information_schema.columns"
            " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
        ).fetchall()
    schema: dict[str, list[tuple[str, str, bool]]] = {}
    for table, column, data_type, not_null in rows:
        schema.setdefault(table, []).append((column, data_type, not_null))
    return schema


@pytest.mark.postgresql
def test_both_engines_have_the_same_tables_columns_types_and_order(tmp_path: Path, pg_backend: Backend) -> None:
    """Column order matters too: some inserts name no columns (INSERT INTO audit VALUES ...)."""
    SqliteStore(tmp_path / "signer.db").close()
    pg_backend.open()
    lite, pg = sqlite_schema(tmp_path / "signer.db"), postgres_schema(pg_backend.location)
    assert sorted(lite) == sorted(pg)
    for table in lite:
        assert lite[table] == pg[table], table


@pytest.mark.postgresql
def test_instances_starting_together_migrate_once(pg_backend: Backend) -> None:
    stores: list[Store] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    gate = threading.Barrier(4)

    def start() -> None:
        gate.wait()
        try:
            s = PostgresStore(pg_backend.location)
        except BaseException as e:  # reported below
            with lock:
                failures.append(e)
            return
        with lock:
            stores.append(s)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    pg_backend.opened.extend(stores)
    assert not failures, failures
    assert len(stores) == 4
    assert version_rows(pg_backend) == list(range(1, len(MIGRATIONS) + 1))

"""The default store: one SQLite database file, written by one process."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tillit.hsm.settings import held_lock_file, private_dir, private_file
from tillit.signer.store.base import Store, require_known
from tillit.signer.store.migrations import MIGRATIONS
from tillit.signer.store.tx import Tx


class SqliteStore(Store):
    """SQLite in WAL mode with synchronous=FULL; one connection, transactions serialised."""

    def __init__(self, path: Path) -> None:
        # Password hashes, codes and documents: this user's alone, whatever the umask. SQLite gives
        # the -wal and -shm files the database file's permissions.
        private_dir(path.parent)
        private_file(path)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._lock = threading.RLock()
        self._readers = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = self._db.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = row[0] or 0
            require_known(current, str(self.path))
            for number, script in enumerate(MIGRATIONS, start=1):
                if number <= current:
                    continue
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for statement in script.split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                    self._db.execute("INSERT INTO schema_version VALUES (?)", (number,))
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            tx = Tx(cur)
            try:
                yield tx
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")
            finally:
                cur.close()
        if tx.last_audit_seq and self.on_audit is not None:
            self.on_audit(tx.last_audit_seq)

    local_reads = True

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read-only transaction on this thread's own connection. It takes neither the writers'
        lock nor `BEGIN IMMEDIATE`: in WAL mode a reader sees the last commit and never waits for a
        writer (or its fsync), so a lookup by key costs tens of microseconds, even on the event loop.
        The connection is opened read-only: a write in here fails instead of bypassing the lock."""
        db = getattr(self._readers, "db", None)
        if db is None:
            db = sqlite3.connect(
                self.path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None, check_same_thread=False
            )
            self._readers.db = db
            with self._lock:
                self._reader_connections.append(db)
        cur = db.cursor()
        cur.execute("BEGIN")
        try:
            yield Tx(cur)
        finally:
            cur.execute("COMMIT")
            cur.close()

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """A lock file beside the database (`<file>.lock`), held with flock: every process on this
        database takes the same one, for any `name` (what it guards is made rarely)."""
        with held_lock_file(self.path.with_name(self.path.name + ".lock")):
            yield

    def close(self) -> None:
        with self._lock:
            for reader in self._reader_connections:
                reader.close()
            self._reader_connections.clear()
        self._db.close()

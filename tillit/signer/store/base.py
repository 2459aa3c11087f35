"""The store's interface: transactions (`tx()`, `read()`), the after-commit audit hook, push between
processes. `SqliteStore` (store/sqlite.py) and `PostgresStore` (store/postgres.py) implement it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from tillit.config import ConfigError
from tillit.signer.push import Notifier
from tillit.signer.store.migrations import MIGRATIONS
from tillit.signer.store.tx import Tx


class Store:
    """The store interface; `SqliteStore` is the default implementation.

    `on_audit(seq)`, when set, is called after a transaction that appended audit entries commits
    (outside it, with the newest entry's seq); an implementation calls it after its COMMIT.
    """

    on_audit: Callable[[int], None] | None = None
    # True when `read()` is local and never waits (SQLite): cheap enough to run on the event loop.
    local_reads = False
    # True when other processes (instances on other machines) share the data: what must be counted
    # across instances, the rate windows, is then counted in the store (signer/ratelimit.py).
    shared = False

    def tx(self) -> AbstractContextManager[Tx]:  # pragma: no cover - interface
        raise NotImplementedError

    def read(self) -> AbstractContextManager[Tx]:
        """A transaction that only reads. By default an ordinary `tx()`."""
        return self.tx()

    def exclusive(self, name: str) -> AbstractContextManager[None]:  # pragma: no cover - interface
        """Held by one process at a time among all sharing this store, whatever they do meanwhile
        (make a key on the token, say); not a transaction, and may be taken inside one."""
        raise NotImplementedError

    def check(self, timeout: float) -> None:
        """Raise unless the store answers a read within about `timeout` seconds (for /healthz: an
        unreachable database is reported at once, not after the connection pool's own wait)."""
        with self.read() as tx:
            tx.execute("SELECT COUNT(*) FROM schema_version")

    def close(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def connect_notifier(self, notifier: Notifier) -> None:
        """Carry `notifier`'s wake-ups to other processes sharing this store. A single SQLite
        process has nobody to tell, so by default nothing happens (see `PostgresStore`)."""


def require_known(version: int, where: str) -> None:
    """Refuse a database whose schema is newer than this code's migrations: code older than its
    database (a rollback after an upgrade) would read and write tables it does not know."""
    if version > len(MIGRATIONS):
        raise ConfigError(
            f"{where} is at schema version {version}, newer than this Tillit's {len(MIGRATIONS)}: run the"
            " Tillit that upgraded it (going back after a migration means restoring the backup taken before)"
        )

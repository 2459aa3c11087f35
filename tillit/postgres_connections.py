"""How Tillit's connections to PostgreSQL (the signer's store, its push listener, the CA ledger) are
opened: libpq's defaults, but with TCP keepalives and a send timeout; the pools that reconnect
steadily after an outage (`SteadyPool`); and the one line for a role that may not create the tables
they need (`creating`).

Without them a connection whose packets are dropped (a partition, a database host that died without
closing its sockets) waits for the kernel's own limits: about two hours for an idle connection such as
the push listener's, which would then stay "connected" while receiving nothing. With these, a dead
peer is noticed within about a minute and the connection fails, so that the pool replaces it and the
listener connects again. A value given in the database URL wins (`?keepalives_idle=...`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool
from psycopg_pool.base import AttemptWithBackoff

from tillit.config import ConfigError

CONNECTION_DEFAULTS: dict[str, str] = {
    "connect_timeout": "10",
    "keepalives": "1",
    "keepalives_idle": "30",  # seconds idle before the first probe
    "keepalives_interval": "10",  # seconds between probes
    "keepalives_count": "3",  # probes unanswered before the connection is dead
    "tcp_user_timeout": "30000",  # ms that sent data may stay unacknowledged (Linux)
}


RECONNECT_EVERY_SECONDS = 2.0
"""The longest wait between a pool's attempts to connect again while the database is away."""


class _SteadyAttempt(AttemptWithBackoff):
    """psycopg_pool's reconnection attempts, waiting at most `RECONNECT_EVERY_SECONDS` in between."""

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, RECONNECT_EVERY_SECONDS)


class SteadyPool(ConnectionPool[psycopg.Connection[Any]]):
    """A `ConnectionPool` that tries to connect again every `RECONNECT_EVERY_SECONDS` while the
    database is away, however long that is. psycopg_pool doubles its wait after each failed attempt
    (1, 2, 4, ... 64 s): after a minute's outage its next attempt could be a minute off, and an
    operator probe saw instances answer 503 for 28-50 s after PostgreSQL was back. It still gives up
    after `reconnect_timeout` (5 minutes), as psycopg_pool does; a waiting request then grows it again.

    Overrides `_add_connection`, psycopg_pool's (3.2-3.3) one place where attempts start."""

    def _add_connection(self, attempt: AttemptWithBackoff | None, growing: bool = False) -> None:
        super()._add_connection(attempt or _SteadyAttempt(timeout=self.reconnect_timeout), growing)


def connection_options(url: str) -> dict[str, Any]:
    """`CONNECTION_DEFAULTS` less what the URL sets itself: keyword arguments for psycopg's
    `connect` (or a pool's `kwargs`), which would otherwise override the URL's values."""
    given = conninfo_to_dict(url)
    return {name: value for name, value in CONNECTION_DEFAULTS.items() if name not in given}


@contextmanager
def creating(what: str) -> Iterator[None]:
    """Around a start's DDL: the server's refusal (a role without CREATE on the schema) becomes one
    `ConfigError` line saying the role may not `what` and what to do."""
    try:
        yield
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.InvalidSchemaName) as e:
        problem = str(e).strip().splitlines()[0]
        raise ConfigError(
            f"the database role may not {what} ({problem}): run Tillit once as a role with CREATE on the"
            " schema (the database's owner), then as this one (docs/operations.md)"
        ) from None

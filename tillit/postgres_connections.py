"""How Tillit's connections to PostgreSQL (the signer's store, its push listener, the CA ledger) are
opened: libpq's defaults, but with TCP keepalives and a send timeout; and the one line for a role
that may not create the tables they need (`creating`).

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

from tillit.config import ConfigError

CONNECTION_DEFAULTS: dict[str, str] = {
    "connect_timeout": "10",
    "keepalives": "1",
    "keepalives_idle": "30",  # seconds idle before the first probe
    "keepalives_interval": "10",  # seconds between probes
    "keepalives_count": "3",  # probes unanswered before the connection is dead
    "tcp_user_timeout": "30000",  # ms that sent data may stay unacknowledged (Linux)
}


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

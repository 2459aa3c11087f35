"""How Tillit's connections to PostgreSQL (the signer's store, its push listener, the CA ledger) are
opened: libpq's defaults, but with TCP keepalives and a send timeout.

Without them a connection whose packets are dropped (a partition, a database host that died without
closing its sockets) waits for the kernel's own limits: about two hours for an idle connection such as
the push listener's, which would then stay "connected" while receiving nothing. With these, a dead
peer is noticed within about a minute and the connection fails, so that the pool replaces it and the
listener connects again. A value given in the database URL wins (`?keepalives_idle=...`).
"""

from __future__ import annotations

from typing import Any

from psycopg.conninfo import conninfo_to_dict

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

"""The daemon's uvicorn server: uvicorn's, with a shutdown that does not wait out the long-polls."""

from __future__ import annotations

import socket

import uvicorn

from tillit.signer.push import Notifier


class DrainingServer(uvicorn.Server):
    """uvicorn's server, which at a stop (SIGTERM, SIGINT, `should_exit`) waits for every request in
    flight to be answered. A phone's long-poll waits up to 60 s for a request to arrive, so a stop
    with phones connected took as long (58 s measured), past systemd's `TimeoutStopSec`. This one
    first wakes the long-polls (`Notifier.drain`): each answers what it has at once, and the phone
    asks again elsewhere. `timeout_graceful_shutdown` in the config bounds the rest."""

    def __init__(self, config: uvicorn.Config, notifier: Notifier) -> None:
        super().__init__(config)
        self.notifier = notifier

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.notifier.drain()
        await super().shutdown(sockets)

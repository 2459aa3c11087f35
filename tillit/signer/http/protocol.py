"""uvicorn's HTTP/1.1 protocol with a deadline and a size limit on each request's head (its request
line and headers).

uvicorn closes a keep-alive connection that stays idle after an answer, but it times nothing else
out: a connection that never sends a byte, or a request head sent a byte at a time and never
finished, holds its socket and its slot in the server for as long as the client likes, and a few
thousand such connections take every file descriptor the daemon has (the "slowloris" attack). The
body has its own deadline (`signer.http.middleware.BodyDeadline`); the app never sees a head.

`TimelyHeadsProtocol` gives a new connection, and every later request on it from its first byte,
`head_seconds` for the whole head; when it passes, the connection is answered 408 and closed.
Nor does uvicorn bound a head's size: httptools buffers a header for as long as it grows, so a few
connections each sending a header of tens of MiB took hundreds of MB of the daemon's memory and
stalled its event loop while they were parsed. A head still incomplete after `head_bytes` is
answered 431 and the connection closed, before httptools sees the read that passes the limit (a
head that ends within a read is counted to its blank line, not with the body after it).
`timely_heads` makes the protocol class for one server: its limits and the bodies of its 408 and
431 (each face answers in its own shape).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class TimelyHeadsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering 408 and closing a connection whose request head has
    not all arrived in time (the module's docstring). Made for a server by `timely_heads`."""

    head_seconds: float = 10.0
    head_bytes: int = 65536
    timeout_answer: bytes = b""
    too_large_answer: bytes = b""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._reading_head = True  # the next bytes are a request's head (not a body)
        self._head_so_far = 0

    def data_received(self, data: bytes) -> None:
        if not self._reading_head:
            super().data_received(data)
            return
        # The head's bytes in this read: up to its blank line when that is here, else all of it.
        end = data.find(b"\r\n\r\n")
        self._head_so_far += end + 4 if end >= 0 else len(data)
        if self._head_so_far > self.head_bytes:
            if not self.transport.is_closing():
                self._disarm_head_timer()
                self.transport.write(self.too_large_answer)
                self.transport.close()
            return
        super().data_received(data)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()  # a connection that sends nothing is timed too

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head_timer()  # a request's first byte, on a new or a kept-alive connection

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        self._reading_head, self._head_so_far = False, 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head = True  # what follows is the next request's head

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_seconds, self._head_too_slow)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # The head of a request pipelined behind one still being answered (a long-poll): it is
            # read after that answer, so it gets its time again.
            self._arm_head_timer()
            return
        self.transport.write(self.timeout_answer)
        self.transport.close()


def timely_heads(
    head_seconds: float,
    head_bytes: int,
    late: dict[str, str],
    too_large: dict[str, str],
    base: type[TimelyHeadsProtocol] = TimelyHeadsProtocol,
) -> type[TimelyHeadsProtocol]:
    """A subclass of `base` for one server: heads due within `head_seconds` and at most `head_bytes`
    long, `late` the JSON body of the 408 and `too_large` of the 431 that close the connection."""
    return type(
        base.__name__,
        (base,),
        {
            "head_seconds": head_seconds,
            "head_bytes": head_bytes,
            "timeout_answer": _closing_answer(b"408 Request Timeout", late),
            "too_large_answer": _closing_answer(b"431 Request Header Fields Too Large", too_large),
        },
    )


def _closing_answer(status: bytes, error: dict[str, str]) -> bytes:
    body = json.dumps(error, separators=(",", ":")).encode()
    return b"HTTP/1.1 %s\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%s" % (
        status,
        len(body),
        body,
    )

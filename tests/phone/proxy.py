"""A slow network between the phone and the signer: a loopback TCP proxy that holds back some requests.

`SlowProxy(upstream_port, delay, when=b"POST /v1/app/requests/")` forwards every byte both ways, but
waits `delay` seconds before forwarding a chunk from the phone that starts with `when`. That makes "the
decision reached the signer after the order expired" happen for certain, without touching either side.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class SlowProxy:
    def __init__(self, upstream_port: int, delay: float, when: bytes = b"POST /v1/app/requests/") -> None:
        self.upstream_port = upstream_port
        self.delay = delay
        self.when = when
        self.held = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()
        self._spawn(self._accept)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._sockets += [client, upstream]
            self._spawn(self._pump, client, upstream, True)
            self._spawn(self._pump, upstream, client, False)

    def _pump(self, source: socket.socket, target: socket.socket, from_phone: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if from_phone and chunk.startswith(self.when):
                    self.held += 1
                    time.sleep(self.delay)
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (source, target):  # HTTP never half-closes: one side gone ends the connection
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed.set()
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)  # wakes the pumps' recv
        for thread in self._threads:
            thread.join(5)
        self._listener.close()
        for s in self._sockets:
            s.close()

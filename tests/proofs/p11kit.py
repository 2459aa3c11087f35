"""A real `p11-kit server` handing a SoftHSM token to other processes over a unix socket, as a bank
hands its HSM to Tillit (docs/hsm.md), and the orders the outage proofs push through the daemon.

The server forks a `p11-kit-remote` per connection; it runs in its own process group so that
`kill` takes the whole server down (the children too), as a crashed HSM server or a dead link would.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.daemon import Daemon, make_daemon
from tillit.hsm.settings import SOFTHSM_MODULE
from tillit.phone.client import PhoneClient

# Debian's p11-kit-modules puts it in the architecture's library directory.
CLIENT_MODULE = next(
    (str(p) for p in sorted(Path("/usr/lib").glob("*/pkcs11/p11-kit-client.so"))),
    "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so",
)


def require_p11_kit() -> None:
    """Skip, naming the package, where p11-kit is not installed (scripts/bootstrap installs it)."""
    if shutil.which("p11-kit") is None or not Path(CLIENT_MODULE).is_file():
        pytest.skip("p11-kit and p11-kit-modules are not installed (scripts/bootstrap installs them)")


@dataclass
class P11KitServer:
    """`p11-kit server` for the token labelled `token` of the SoftHSM configured in `softhsm_conf`."""

    socket: Path
    softhsm_conf: Path
    token: str = "tillit"
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def address(self) -> str:
        return f"unix:path={self.socket}"

    def client_env(self) -> dict[str, str]:
        """What a process needs to use the token through p11-kit-client.so."""
        return {"TILLIT_PKCS11_MODULE": CLIENT_MODULE, "P11_KIT_SERVER_ADDRESS": self.address}

    def start(self) -> None:
        env = {**os.environ, "SOFTHSM2_CONF": str(self.softhsm_conf)}
        self.socket.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [
                "p11-kit",
                "server",
                "-f",
                "-n",
                str(self.socket),
                "--provider",
                SOFTHSM_MODULE,
                f"pkcs11:token={self.token}",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            assert self.process.poll() is None, "p11-kit server exited at start"
            assert time.monotonic() < deadline, "p11-kit server made no socket"
            time.sleep(0.01)

    def kill(self) -> None:
        """SIGKILL to the server and every `p11-kit-remote` it forked (its process group)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None


@contextmanager
def daemon_behind_p11kit(
    tmp_path_factory: pytest.TempPathFactory, name: str, **env: str
) -> Iterator[tuple[Daemon, P11KitServer]]:
    """A started daemon whose every HSM call goes through p11-kit-client.so to a `p11-kit server`
    serving its home's SoftHSM token; both stopped at the end."""
    require_p11_kit()
    d = make_daemon(tmp_path_factory.mktemp(name) / "home", **env)
    server = P11KitServer(tmp_path_factory.mktemp("p11") / "hsm.sock", d.home / "softhsm2.conf")
    server.start()
    try:
        d.env.update(server.client_env())
        d.start()
        yield d, server
    finally:
        d.stop()
        server.kill()


def start_and_approve(k: httpx.Client, number: str, phone: PhoneClient, sign: bool = False) -> str:
    """An auth (or sign) order the phone has approved: what is left is the password, which signs."""
    if sign:
        doc = base64.b64encode(b"Avtale om brukskonto\n").decode()
        body: dict[str, Any] = {
            "personalNumber": number,
            "userVisibleData": "Eg signerer",
            "documents": [{"name": "avtale.txt", "contentType": "text/plain", "content": doc}],
        }
        r = k.post("/v1/sign", json=body)
    else:
        r = k.post("/v1/auth", json={"personalNumber": number})
    assert r.status_code == 200, r.text
    ref = str(r.json()["orderRef"])
    request = next(x for x in phone.requests(wait=5).requests if x.order_ref == ref)
    phone.decide(request, "approve")
    return ref

"""A home's SoftHSM token served by a real `p11-kit server` on a unix socket, for a daemon that
reaches it through p11-kit-client.so (docs/hsm.md, "An HSM on another machine").

The server runs in a process group of its own: it forks a `p11-kit-remote` per connection, and
stopping the group stops those too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tillit.hsm.settings import SOFTHSM_MODULE

# Debian's p11-kit-modules puts it in the architecture's library directory.
CLIENT_MODULE = next(
    (str(p) for p in sorted(Path("/usr/lib").glob("*/pkcs11/p11-kit-client.so"))),
    "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so",
)


def missing() -> str | None:
    """Why this machine cannot serve a token through p11-kit, or None when it can."""
    if shutil.which("p11-kit") is None:
        return "p11-kit is not installed (Debian package p11-kit; scripts/bootstrap installs it)"
    if not Path(CLIENT_MODULE).is_file():
        return f"{CLIENT_MODULE} is missing (Debian package p11-kit-modules)"
    return None


class P11KitServer:
    """`p11-kit server` for the token labelled `token_label` of the SoftHSM configured in `home`."""

    def __init__(self, home: Path, socket: Path, token_label: str = "tillit") -> None:  # noqa: S107 (a label)
        self.home = home
        self.socket = socket
        self.token_label = token_label
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"pkcs11:token={self.token_label}"

    def client_env(self) -> dict[str, str]:
        """What a daemon needs to use the token through p11-kit-client.so instead of SoftHSM."""
        return {"TILLIT_PKCS11_MODULE": CLIENT_MODULE, "P11_KIT_SERVER_ADDRESS": f"unix:path={self.socket}"}

    def start(self, timeout: float = 10) -> None:
        self.socket.unlink(missing_ok=True)
        with open(self.home / "p11-kit-server.log", "ab") as log:
            self.process = subprocess.Popen(
                # The token's URI last: p11-kit reads the options before it.
                ["p11-kit", "server", "-f", "-n", str(self.socket), "--provider", SOFTHSM_MODULE, self.uri],
                env={**os.environ, "SOFTHSM2_CONF": str(self.home / "softhsm2.conf")},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"p11-kit server did not start: {(self.home / 'p11-kit-server.log').read_text()}")
            time.sleep(0.01)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def connections(self) -> int:
        """Clients connected now: the server forks one `p11-kit-remote` per connection."""
        assert self.process is not None
        try:
            return len((Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()).split())
        except OSError:
            return 0

    def stop(self) -> None:
        """SIGTERM to the server and the `p11-kit-remote` children it forked (its process group)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

"""A throwaway TILLIT_HOME made with the `tillit-hsm` commands, and the settings the kit leaves out."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tillit.phone.testkit.commands import (
    command_failure,
    free_port,
    tool,
)


@dataclass
class TillitHome:
    """A TILLIT_HOME with its SoftHSM token and CA.

    `path` is the directory, `env` the environment the Tillit commands run with (TILLIT_HOME and the
    kit's settings, none of the caller's TILLIT_* variables), `port` the loopback port its CA's
    certificates point at and its signer serves on (None: the port TILLIT_PORT names, or a free one).
    """

    path: Path
    env: dict[str, str]
    port: int | None = None

    @property
    def public_url(self) -> str:
        """The signer's public URL in this home, worked out as the signer does: TILLIT_PUBLIC_URL, else
        http://TILLIT_HOST:TILLIT_PORT. Its CA's certificates point under it; it is the tokens' `iss`."""
        if self.env.get("TILLIT_PUBLIC_URL"):
            return self.env["TILLIT_PUBLIC_URL"].rstrip("/")
        return f"http://{self.env.get('TILLIT_HOST', '127.0.0.1')}:{self.env.get('TILLIT_PORT', '8700')}"

    @property
    def rp_url(self) -> str | None:
        """The base URL of the signer's BankID RP API face in this home (TILLIT_RP_PORT), with its
        trailing slash: https://127.0.0.1:<port>/rp/v6.0/. None when the face is off (unset or 0)."""
        port = self.env.get("TILLIT_RP_PORT", "")
        return f"https://127.0.0.1:{port}/rp/v6.0/" if port.strip() not in ("", "0") else None

    def run(
        self, name: str, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the Tillit command `name` (`tillit-signer`, `tillit-hsm`, ...) with `args` in this home.

        `stdin` is its standard input; with `check` (the default) an exit code other than 0 raises a
        TillitError of one line; `timeout` is in seconds. Returns the finished process (text output).
        """
        result = subprocess.run(
            [tool(name), *args], input=stdin, capture_output=True, text=True, env=self.env, timeout=timeout
        )
        if check and result.returncode != 0:
            raise command_failure(f"{name} {' '.join(args)}", result.returncode, result.stderr)
        return result

    def outbox(self) -> list[dict[str, Any]]:
        """The SMS and e-mail the signer has 'sent' (`tillit-signer outbox list --json`), oldest first:
        dicts with `channel` ("sms" or "email"), `recipient` and `body`, among others."""
        return list(json.loads(self.run("tillit-signer", "outbox", "list", "--json").stdout))


def dropped_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """The names in `environ` (default: this process's environment) the kit's commands run without:
    every TILLIT_* variable and SOFTHSM2_CONF, so that a tester's own setup never leaks in."""
    environ = os.environ if environ is None else environ
    return sorted(k for k in environ if k.startswith("TILLIT_") or k == "SOFTHSM2_CONF")


def make_home(path: Path, settings: Mapping[str, str] | None = None, port: int | None = None) -> TillitHome:
    """Create a home in `path`: `tillit-hsm init` (a SoftHSM token) and `tillit-hsm ca init`.

    `settings` are TILLIT_* variables (name -> text) for every command in the home, over the kit's
    own (TILLIT_ALLOW_TEST_NUMBERS=1, TILLIT_HOST, TILLIT_PORT, TILLIT_PUBLIC_URL, TILLIT_RP_PORT).
    `port` is the loopback port its signer will serve on (default: a free one, chosen now): the CA
    writes http://127.0.0.1:<port> into its certificates, so their CRL and OCSP URLs point at that
    signer. The BankID RP API face gets another free port (TILLIT_RP_PORT; "0" turns it off).
    Returns the home.
    """
    path.mkdir(parents=True, exist_ok=True)
    port = free_port() if port is None else port
    dropped = set(dropped_variables())
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        {
            "TILLIT_HOME": str(path),
            "TILLIT_ALLOW_TEST_NUMBERS": "1",
            "TILLIT_HOST": "127.0.0.1",
            "TILLIT_PORT": str(port),
            "TILLIT_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "TILLIT_RP_PORT": str(free_port()),
            **(settings or {}),
        }
    )
    home = TillitHome(path, env, port)
    home.run("tillit-hsm", "init")
    home.run("tillit-hsm", "ca", "init")
    return home

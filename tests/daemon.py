"""Starting the real signer daemon (uvicorn on 127.0.0.1, a free port) over a real SoftHSM token."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tillit.hsm.otp import CodeDeviceFile
from tillit.phone.client import PhoneClient

BIN = Path(sys.executable).parent
PASSWORD = "Fjord-Hest-2024"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tool(name: str) -> str:
    return str(BIN / name)


@dataclass
class Daemon:
    home: Path
    port: int
    env: dict[str, str]
    kiosk_token: str = ""
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.home / "daemon.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [tool(args[0]), *args[1:]], input=stdin, capture_output=True, text=True, env=self.env, timeout=120
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{args} failed ({result.returncode}): {result.stderr}")
        return result

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [tool("tillit-signer"), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"daemon exited: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError("daemon did not come up")

    def stop(self, kill: bool = False) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kiosk(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.kiosk_token}"}, timeout=30)

    def enrol(
        self,
        number: str,
        name: str = "Kari Nordmann",
        password: str = PASSWORD,
        *extra: str,
        control_answers: list[str] | None = None,
    ) -> None:
        """`tillit-signer customers add`, the password (and the control answers) on standard input."""
        answers = ["--control-answers-stdin"] if control_answers else []
        self.run(
            "tillit-signer",
            "customers",
            "add",
            "--personal-number",
            number,
            "--name",
            name,
            "--mobile",
            "+4791234567",
            "--email",
            "kari@example.no",
            "--password-stdin",
            *answers,
            *extra,
            stdin="\n".join([password, *(control_answers or [])]) + "\n",
        )

    def issue_code_device(self, number: str, folder: Path, serial: str | None = None) -> CodeDeviceFile:
        """`tillit-hsm codedevice issue` (its secret file in `folder`) and `customers assign-codedevice`."""
        serial = serial or f"KB-{number}"
        out = folder / f"{serial}.json"
        self.run("tillit-hsm", "codedevice", "issue", "--serial", serial, "--out", str(out))
        self.run("tillit-signer", "customers", "assign-codedevice", number, "--serial", serial)
        return CodeDeviceFile.load(out)

    def add_device(self, number: str) -> PhoneClient:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        path = self.home / f"device-{time.monotonic_ns()}.pem"
        path.write_bytes(pem)
        out = self.run("tillit-signer", "customers", "add-device", number, "--public-key", str(path), "--json")
        import json

        return PhoneClient(self.url, json.loads(out.stdout)["id"], key)


def make_daemon(home: Path, **extra_env: str) -> Daemon:
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILLIT_") and k != "SOFTHSM2_CONF"}
    env.update({"TILLIT_HOME": str(home), "TILLIT_ALLOW_TEST_NUMBERS": "1", **extra_env})
    daemon = Daemon(home=home, port=free_port(), env=env)
    daemon.env["TILLIT_PORT"] = str(daemon.port)
    daemon.run("tillit-hsm", "init")
    daemon.run("tillit-hsm", "ca", "init")
    daemon.kiosk_token = daemon.run("tillit-signer", "kiosks", "add", "--name", "Bergen sentrum").stdout.strip()
    return daemon

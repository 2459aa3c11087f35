"""The real `tillit-kiosk demo` in tmux, driven with keys as a person would, approved with the real
`tillit-phone` from outside; the signed PDF it leaves in TILLIT_HOME is checked by pdfsig."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.daemon import free_port, tool

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not shutil.which("tmux") or not shutil.which("pdfsig"), reason="needs tmux and pdfsig"),
]

NUMBER = "13897248098"
PASSWORD = "Fjord-Hest-2024"
SIDE_WIDTH = 34  # the demo's phone column (kiosk/app.tcss .side)


class Kiosk:
    """The demo in a detached tmux session on a private tmux server."""

    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.port = port
        self.socket = f"tillit-e2e-{uuid.uuid4().hex[:8]}"
        self.size = (140, 40)
        # COLUMNS and LINES (pytest-xdist's workers set 80x24) would override tmux's 140x40 for Textual.
        dropped = {"SOFTHSM2_CONF", "COLUMNS", "LINES"}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TILLIT_") and k not in dropped}
        self.env.update({"TILLIT_HOME": str(home), "TILLIT_KIOSK_DEMO_PORT": str(port), "TERM": "xterm-256color"})

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
        )
        return result.stdout

    def start(self, size: tuple[int, int] = (140, 40)) -> None:
        # Textual draws on stderr: leave it on the terminal.
        command = f"{tool('tillit-kiosk')} demo; echo KIOSK-EXITED $?; sleep 600"
        self.size = size
        self.tmux("new-session", "-d", "-s", "kiosk", "-x", str(size[0]), "-y", str(size[1]), command)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "kiosk")

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", "kiosk", *(["-l"] if literal else []), *keys)

    def type(self, text: str) -> None:
        self.keys(text, literal=True)

    def paste(self, text: str) -> None:
        """A bracketed paste, as a terminal sends one (a card reader or scanner types much the same)."""
        buffer = self.home.parent / "paste.txt"
        buffer.write_text(text)
        self.tmux("load-buffer", "-b", "paste", str(buffer))
        self.tmux("paste-buffer", "-p", "-d", "-b", "paste", "-t", "kiosk")

    def kiosk_text(self) -> str:
        """The kiosk's column (left of the phone), its lines joined: words wrapped at 60x20 still match."""
        kiosk_width = self.size[0] - SIDE_WIDTH
        return " ".join(" ".join(line[:kiosk_width].split()) for line in self.screen().splitlines())

    def wait_for_kiosk(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while text not in (shown := self.kiosk_text()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared in the kiosk's column:\n{self.screen()}")
            time.sleep(0.1)
        return shown

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if text in shown:
                return shown
            if time.monotonic() > deadline:
                log = self.home / "demo.log"
                tail = log.read_text()[-3000:] if log.exists() else ""
                raise AssertionError(f"{text!r} never appeared; the screen:\n{shown}\ndemo.log:\n{tail}")
            time.sleep(0.1)

    def wait_gone(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while text in (shown := self.screen()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never went away; the screen:\n{shown}")
            time.sleep(0.1)
        return shown

    def stop(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def kiosk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Kiosk]:
    """The demo in tmux, 140x40 unless a test asks for another size:
    `@pytest.mark.parametrize("kiosk", [(60, 20)], indirect=True)`."""
    home = tmp_path / "home"  # does not exist yet: the demo creates it
    k = Kiosk(home, free_port())
    k.start(getattr(request, "param", (140, 40)))
    yield k
    k.stop()


def phone_approves(kiosk: Kiosk) -> dict[str, Any]:
    env = {**kiosk.env, "TILLIT_PHONE_PIN": "2580"}
    result = subprocess.run(
        [tool("tillit-phone"), "--profile", "kari", "approve", "--wait", "20"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def trust_store(url: str, folder: Path) -> Path:
    chain = httpx.get(url + "/v1/ca", timeout=10).text
    root = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n", chain, re.S)[-1]
    (folder / "root.pem").write_text(root)
    nss = folder / "nss"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{nss}", "-n", "tillit-root", "-t", "CT,C,C", "-i", str(folder / "root.pem")],
        check=True,
    )
    return nss


def test_demo_login_and_sign_with_keys_only(kiosk: Kiosk, tmp_path: Path) -> None:
    started = time.monotonic()
    kiosk.wait_for("Demokundar", timeout=60)  # the welcome screen lists the demo customers
    assert NUMBER in kiosk.screen() and PASSWORD in kiosk.screen()
    first_frame = time.monotonic() - started
    assert first_frame < 30, f"the welcome screen took {first_frame:.1f} s"

    kiosk.keys("C-q")  # a customer cannot leave the kiosk
    kiosk.keys("C-c")
    time.sleep(0.5)
    assert "KIOSK-EXITED" not in kiosk.screen()

    # Log in: the number, Enter, the app (the first login after activation asks how), the phone
    # approves, the password, Enter.
    kiosk.type(NUMBER)
    kiosk.wait_for("Fødselsnummer")
    kiosk.keys("Enter")
    kiosk.wait_for("Vel korleis du vil logge inn")
    kiosk.keys("Enter")
    kiosk.wait_for("Opne BankID-appen på telefonen")
    request = phone_approves(kiosk)
    assert request["kind"] == "auth"
    kiosk.wait_for("BankID-passordet ditt")
    kiosk.wait_for(f"Referanse: {request['reference']}")  # the kiosk shows the words the phone approved
    kiosk.type(PASSWORD)
    kiosk.keys("Enter")
    kiosk.wait_for("Logga inn som Kari Nordmann")
    kiosk.wait_for("Lånavtale for bustadlån")

    # Read the first agreement to the end, then F2.
    kiosk.keys("Enter")
    kiosk.wait_for("Side 1 av")
    for _ in range(30):
        if "Trykk F2 for å signere" in kiosk.screen():
            break
        kiosk.keys("PageDown")
        time.sleep(0.1)
    kiosk.wait_for("Trykk F2 for å signere")
    kiosk.keys("F2")
    kiosk.wait_for("Godkjenn signeringa i BankID-appen")
    request = phone_approves(kiosk)
    assert request["kind"] == "sign"
    assert request["documents"][0]["name"] == "laanavtale.pdf"
    kiosk.wait_for("BankID-passordet ditt")
    kiosk.wait_for(f"Referanse: {request['reference']}")
    kiosk.type(PASSWORD)
    kiosk.keys("Enter")
    receipt = kiosk.wait_for("Signert fil", timeout=60)
    assert "Me ynskjer di tilbakemelding!" not in receipt  # nothing covers the receipt

    signed = sorted((kiosk.home / "signed").glob("*.pdf"))
    assert len(signed) == 1, signed
    assert signed[0].name.endswith("-laanavtale.pdf")
    assert request["orderRef"] in signed[0].name
    flat = "".join(line.split("▊")[0].strip(" │") for line in receipt.splitlines())  # the kiosk column, unwrapped
    assert str(signed[0]) in flat, receipt  # the receipt names the file

    # pdfsig checks the signature, the chain and OCSP against the running signer.
    nss = trust_store(f"http://127.0.0.1:{kiosk.port}", tmp_path)
    report = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss}", str(signed[0])], capture_output=True, text=True, timeout=60
    ).stdout
    assert "Signature is Valid." in report, report
    assert "Certificate is Trusted." in report, report
    assert "Kari Nordmann" in report

    kiosk.keys("Enter")  # back to the agreements: the feedback question, once, after the receipt
    kiosk.wait_for("Me ynskjer di tilbakemelding!")
    kiosk.keys("5")
    kiosk.keys("Enter")
    kiosk.wait_gone("Me ynskjer di tilbakemelding!")

    # The administrator's key, and only that, closes the kiosk.
    kiosk.keys("F12")
    kiosk.wait_for("Administrator-PIN")
    kiosk.type("0000")
    kiosk.keys("Enter")
    kiosk.wait_for("KIOSK-EXITED 0", timeout=20)


@pytest.mark.parametrize("kiosk", [(80, 24)], indirect=True)
def test_a_number_and_its_enter_in_one_burst(kiosk: Kiosk) -> None:
    """Eleven digits and Enter at once (a card reader, a scanner, a paste) reach the next step: the keys
    after the first digit were queued on the welcome screen, and the Enter among them was lost."""
    kiosk.wait_for("Demokundar", timeout=60)
    kiosk.tmux("send-keys", "-t", "kiosk", "-l", NUMBER, ";", "send-keys", "-t", "kiosk", "Enter")
    kiosk.wait_for_kiosk("Vel korleis du vil logge inn", timeout=10)

    kiosk.keys("Escape")
    kiosk.wait_for_kiosk("Fødselsnummer")
    kiosk.keys("Escape")
    kiosk.wait_for_kiosk("Velkomen til Tillit Bank")
    kiosk.paste(NUMBER + "\n")  # on the welcome screen
    kiosk.wait_for_kiosk("Vel korleis du vil logge inn", timeout=10)

    kiosk.keys("Escape")
    kiosk.wait_for_kiosk("Fødselsnummer")
    kiosk.keys(*["BSpace"] * 11)
    kiosk.wait_for_kiosk("DDMMÅÅXXXXX")  # the field is empty again
    kiosk.paste(NUMBER + "\r")  # into the number field
    kiosk.wait_for_kiosk("Vel korleis du vil logge inn", timeout=10)


@pytest.mark.parametrize("kiosk", [(60, 20)], indirect=True)
def test_keys_typed_in_bursts_all_take_effect_at_60x20(kiosk: Kiosk) -> None:
    """Each step's keys sent at once, with no pause between them, on the smallest screen: none is lost
    (F2 right after End was: End scrolled after the next refresh, animated over a second)."""
    kiosk.wait_for_kiosk("Velkomen til Tillit Bank", timeout=60)
    kiosk.keys(NUMBER, "Enter")
    kiosk.wait_for_kiosk("Vel korleis du vil logge inn", timeout=10)
    kiosk.keys("Down", "Up", "Enter")  # down to the code device and back up to the app
    kiosk.wait_for_kiosk("Opne BankID-appen på telefonen", timeout=10)
    request = phone_approves(kiosk)
    assert request["kind"] == "auth"
    kiosk.wait_for_kiosk("BankID-passordet ditt")
    kiosk.keys(PASSWORD, "Enter")
    kiosk.wait_for_kiosk("Logga inn som Kari Nordmann", timeout=10)
    kiosk.wait_for_kiosk("Lånavtale for", timeout=10)  # the agreements, in a list with a frame
    kiosk.keys("Down", "Up", "Enter")
    kiosk.wait_for_kiosk("Side 1 av", timeout=10)
    kiosk.keys("PageDown", "Down", "End", "F2")
    kiosk.wait_for_kiosk("Godkjenn signeringa i BankID-appen", timeout=10)

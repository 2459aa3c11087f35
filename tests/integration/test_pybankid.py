"""pybankid 1.5.0, from the package index into a virtualenv of its own (not a Tillit dependency), runs
unchanged against Tillit's BankID RP API face: auth with a personal number and without (the animated
QR code scanned by the real `tillit-phone scan`), sign, collect until complete, cancel, and
alreadyInProgress, all answered as pybankid expects. The completion's ocspResponse verifies with
`openssl ocsp`. The signer, the relying party and the customer's phone come from the testers' kit.

The virtualenv is kept in .cache/pybankid-venv-<version> at the repository's root (gitignored) and
made again only when it is missing or broken; without the package index the test is skipped.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tillit.phone.pytest_plugin import TillitCustomer, TillitPhone, TillitRelyingParty, TillitSigner
from tillit.phone.testkit.commands import tool

pytestmark = pytest.mark.integration

PYBANKID = "1.5.0"
ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".cache" / f"pybankid-venv-{PYBANKID}"
PACKAGE = f"pybankid=={PYBANKID}"
DRIVER = Path(__file__).with_name("pybankid_driver.py")
UNREACHABLE = re.compile(
    r"No matching distribution|Could not find a version|NewConnectionError|Name or service not known|"
    r"Temporary failure in name resolution|Network is unreachable|Connection refused|timed out",
    re.IGNORECASE,
)


def installed(python: Path) -> bool:
    if not python.exists():
        return False
    check = subprocess.run(
        [str(python), "-c", "import bankid; print(bankid.__version__)"], capture_output=True, text=True
    )
    return check.returncode == 0 and check.stdout.strip() == PYBANKID


@pytest.fixture(scope="module")
def pybankid_python() -> Path:
    """The Python of a virtualenv with pybankid==1.5.0 from the package index (made once, then kept)."""
    python = VENV / "bin" / "python"
    if installed(python):
        return python
    VENV.parent.mkdir(exist_ok=True)
    # Built beside it, then renamed into place: a run that stops halfway leaves no broken cache.
    build = Path(tempfile.mkdtemp(prefix=f"{VENV.name}.", dir=VENV.parent))
    try:
        subprocess.run([sys.executable, "-m", "venv", str(build)], check=True, capture_output=True, timeout=300)
        pip = subprocess.run(
            [str(build / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", PACKAGE],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if pip.returncode != 0:
            said = next((line for line in reversed(pip.stderr.splitlines()) if line.strip()), "no message")
            if UNREACHABLE.search(pip.stderr):
                pytest.skip(f"the package index is unreachable for pybankid=={PYBANKID}: {said}")
            pytest.fail(f"pip install pybankid=={PYBANKID} failed: {said}")
        shutil.rmtree(VENV, ignore_errors=True)
        build.rename(VENV)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    assert installed(python), f"pybankid {PYBANKID} is not importable from {python}"
    return python


def run_driver(python: Path, config: dict[str, Any]) -> dict[str, Any]:
    # The configuration (the customer's password in it) on standard input, never in a command line.
    done = subprocess.run(
        [str(python), str(DRIVER)], input=json.dumps(config), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


def openssl(*args: str) -> str:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"openssl {' '.join(args)}: {done.stderr}"
    return done.stdout + done.stderr


def test_pybankid_runs_unchanged_against_tillit(
    pybankid_python: Path,
    tillit_signer: TillitSigner,
    tillit_relying_party: TillitRelyingParty,
    tillit_customer: TillitCustomer,
    tillit_phone: TillitPhone,
    tmp_path: Path,
) -> None:
    rp = tillit_relying_party
    config = {
        "url": rp.url,
        "cert": str(rp.cert),
        "key": str(rp.key),
        "ca": str(rp.ca),
        "personalNumber": tillit_customer.personal_number,
        "password": tillit_customer.password,
        "phone": [tool("tillit-phone"), "--profile", tillit_phone.profile],
        "env": {**tillit_phone.home.env, "TILLIT_PHONE_PIN": tillit_phone.pin},
    }
    results = run_driver(pybankid_python, config)

    assert results["authStarted"] == ["autoStartToken", "orderRef", "qrStartSecret", "qrStartToken"]
    assert results["qrContent"].startswith("bankid.")
    for step in ("authPhone", "authQrPhone", "signPhone"):
        shown = results[step]
        assert (shown["kioskName"], shown["passwordBy"], shown["outcome"]) == (rp.name, "phone", "done"), shown
    assert results["signPhone"]["userVisibleDataFormat"] == "simpleMarkdownV1"
    assert results["signPhone"]["userVisibleData"].startswith("# Låneavtale 2024-117")
    given, surname = tillit_customer.name.split(" ", 1)
    for step in ("auth", "authQr", "sign"):
        answer = results[step]
        assert answer["status"] == "complete", (step, answer)
        user = answer["completionData"]["user"]
        assert user == {
            "personalNumber": tillit_customer.personal_number,
            "name": tillit_customer.name,
            "givenName": given,
            "surname": surname,
        }
    assert results["alreadyInProgress"]["error"] == "AlreadyInProgressError"
    assert results["alreadyInProgress"]["json"]["errorCode"] == "alreadyInProgress"
    assert results["cancel"] is True
    assert results["cancelled"]["status"] == "failed"
    assert results["firstOfTwo"]["status"] == "failed"

    # The ocspResponse: a real OCSP response for the customer's certificate, signed under Tillit's CA.
    completion = results["sign"]["completionData"]
    (tmp_path / "ocsp.der").write_bytes(base64.b64decode(completion["ocspResponse"]))
    (tmp_path / "signature.der").write_bytes(base64.b64decode(completion["signature"]))
    (tmp_path / "chain.pem").write_text(httpx.get(f"{tillit_signer.url}/v1/ca", timeout=30).text)
    (tmp_path / "issuing.pem").write_bytes(
        openssl_pem(httpx.get(f"{tillit_signer.url}/v1/ca/issuing.cer", timeout=30).content)
    )
    certs = openssl("pkcs7", "-inform", "DER", "-in", str(tmp_path / "signature.der"), "-print_certs")
    customer = next(block for block in pem_blocks(certs) if tillit_customer.name in subject_of(block, tmp_path))
    (tmp_path / "customer.pem").write_text(customer)
    checked = openssl(
        "ocsp",
        "-respin",
        str(tmp_path / "ocsp.der"),
        "-CAfile",
        str(tmp_path / "chain.pem"),
        "-issuer",
        str(tmp_path / "issuing.pem"),
        "-sha256",  # the response's CertID hashes with SHA-256 (openssl's default is SHA-1)
        "-cert",
        str(tmp_path / "customer.pem"),
    )
    assert "Response verify OK" in checked, checked
    assert f"{tmp_path / 'customer.pem'}: good" in checked, checked


def openssl_pem(der: bytes) -> bytes:
    done = subprocess.run(["openssl", "x509", "-inform", "DER"], input=der, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def pem_blocks(text: str) -> list[str]:
    return re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n", text, re.DOTALL)


def subject_of(pem: str, folder: Path) -> str:
    path = folder / "one.pem"
    path.write_text(pem)
    return openssl("x509", "-in", str(path), "-noout", "-subject")


def test_the_readmes_pybankid_setup_is_the_drivers() -> None:
    """README.md's few lines of pybankid setup are the ones the test runs (the paths and URL named)."""
    readme = (ROOT / "README.md").read_text().split("## Tillit as a BankID test server", 1)[1]
    setup = readme.split("```python\n", 1)[1].split("```", 1)[0]
    named = {
        '("rp/rp.crt", "rp/rp.key")': "(cert, key)",
        '"rp/ca.pem"': "ca",
        '"https://127.0.0.1:8701/rp/v6.0/"': "url",
    }
    driver = [line.split("  #", 1)[0].strip() for line in DRIVER.read_text().splitlines()]
    for line in setup.splitlines():
        statement = line.split("  #", 1)[0].strip()
        for literal, name in named.items():
            statement = statement.replace(literal, name)
        assert statement in driver, statement

"""The pluggable message sender: a bank's gateway gets the activation codes, the outbox none."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.daemon import PASSWORD, Daemon, make_daemon
from tests.factories import fresh_adult
from tillit.signer.wire import activation_proof_message

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Path]]:
    folder = tmp_path_factory.mktemp("gateway")
    sent = folder / "sent.jsonl"
    d = make_daemon(
        folder / "home",
        TILLIT_MESSAGE_SENDER="tests.integration.senders:to_file",
        TILLIT_TEST_SENDER_FILE=str(sent),
        TILLIT_ACTIVATION_TTL_SECONDS="3",
        PYTHONPATH=str(ROOT),
    )
    d.start()
    yield d, sent
    d.stop()


def _public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(serialization.Encoding.PEM, spki).decode()


def _start(d: Daemon, sent: Path, number: str, key: ec.EllipticCurvePrivateKey) -> tuple[str, str, str]:
    """Start an sms-email activation; the activation id and the two codes the sender got."""
    body = {"personalNumber": number, "method": "sms-email", "deviceName": "Olas telefon"}
    body["publicKey"] = _public_pem(key)
    started = httpx.post(d.url + "/v1/app/activations", json=body)
    assert started.status_code == 201, started.text
    messages = [json.loads(line) for line in sent.read_text().splitlines()][-2:]
    assert [(m["channel"], m["recipient"]) for m in messages] == [("sms", "+4791234567"), ("email", "kari@example.no")]
    sms, email = (re.search(r"\b(\d{6})\b", m["body"]).group(1) for m in messages)  # type: ignore[union-attr]
    return started.json()["activationId"], sms, email


def _complete(d: Daemon, key: ec.EllipticCurvePrivateKey, activation_id: str, sms: str, email: str) -> httpx.Response:
    proof = base64.b64encode(key.sign(activation_proof_message(activation_id), ec.ECDSA(hashes.SHA256()))).decode()
    return httpx.post(
        d.url + f"/v1/app/activations/{activation_id}/complete",
        json={"proof": proof, "password": PASSWORD, "smsCode": sms, "emailCode": email},
    )


def test_activation_codes_go_through_the_configured_sender(gateway: tuple[Daemon, Path]) -> None:
    d, sent = gateway
    number = fresh_adult()
    d.enrol(number, "Ola Nordmann")
    key = ec.generate_private_key(ec.SECP256R1())
    activation_id, sms, email = _start(d, sent, number, key)
    assert json.loads(d.run("tillit-signer", "outbox", "list", "--json").stdout) == []
    done = _complete(d, key, activation_id, sms, email)
    assert done.status_code == 200, done.text
    shown = json.loads(d.run("tillit-signer", "customers", "show", number, "--json").stdout)
    assert shown["device"]["name"] == "Olas telefon"


def test_activation_codes_expire(gateway: tuple[Daemon, Path]) -> None:
    """The codes live `activation_ttl_seconds` (10 minutes by default; 3 s here): after that the
    right codes and password activate nothing."""
    d, sent = gateway
    number = fresh_adult()
    d.enrol(number, "Ola Nordmann")
    key = ec.generate_private_key(ec.SECP256R1())
    activation_id, sms, email = _start(d, sent, number, key)
    time.sleep(3.2)
    late = _complete(d, key, activation_id, sms, email)
    assert late.status_code == 410 and late.json()["error"] == "activationExpired", late.text
    assert json.loads(d.run("tillit-signer", "customers", "show", number, "--json").stdout)["device"] is None


def test_a_sender_that_cannot_be_loaded_is_one_clear_line(tmp_path: Path) -> None:
    d = make_daemon(tmp_path / "home")
    d.env["TILLIT_MESSAGE_SENDER"] = "no.such.module:factory"
    result = d.run("tillit-signer", "kiosks", "list", check=False)  # a command that builds the whole signer
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "tillit-signer: message_sender 'no.such.module:factory' cannot be loaded: No module named 'no'"
    ]

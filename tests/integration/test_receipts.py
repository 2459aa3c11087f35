"""Signed receipts on the real daemon: `GET /v1/orders/{ref}/receipt` verified with PyJWT against the
JWKS of `GET /v1/keys`, its output hashes checked against the signed documents' bytes, the device's
approval verified with `cryptography`, the kiosk scope, the CLI, and the audit's output hashes."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.daemon import PASSWORD, Daemon
from tests.factories import fresh_adult
from tillit.phone.client import PhoneClient
from tillit.signer.sample_documents import agreement_pdf
from tillit.signer.wire import APPROVAL_CONTEXT, canonical_json

pytestmark = pytest.mark.integration

ATTACHMENT = b"Vedlegg: prisliste 2026\nRente 4,9 %\n"
RECEIPT_TYPE = "tillit-receipt+jwt"


@pytest.fixture(scope="module")
def customer(daemon: Daemon) -> Iterator[tuple[str, PhoneClient]]:
    number = fresh_adult()
    daemon.enrol(number, "Ola Nordmann")
    phone = daemon.add_device(number)
    yield number, phone
    phone.close()


@pytest.fixture(scope="module")
def signed_order(daemon: Daemon, customer: tuple[str, PhoneClient]) -> dict[str, Any]:
    """A completed sign order over a PDF and a text file: its ref and the documents' input bytes."""
    number, phone = customer
    inputs = [
        ("laan.pdf", "application/pdf", agreement_pdf("Lånavtale", "Ola Nordmann", pages=2)),
        ("prisliste.txt", "text/plain", ATTACHMENT),
    ]
    with daemon.kiosk() as k:
        started = k.post(
            "/v1/sign",
            json={
                "personalNumber": number,
                "userVisibleData": "Eg signerer lånavtalen",
                "documents": [
                    {"name": n, "contentType": t, "content": base64.b64encode(c).decode()} for n, t, c in inputs
                ],
            },
        )
        assert started.status_code == 200, started.text
        ref = started.json()["orderRef"]
        phone.decide(phone.requests(wait=5).requests[0], "approve")
        done = k.post("/v1/password", json={"orderRef": ref, "password": PASSWORD}).json()
    assert done["status"] == "complete", done
    return {"ref": ref, "number": number, "inputs": inputs, "completion": done["completionData"]}


def verified_claims(daemon: Daemon, receipt: str) -> dict[str, Any]:
    """The receipt's claims, verified by PyJWT with the key of /v1/keys its `kid` names."""
    header = jwt.get_unverified_header(receipt)
    assert header["alg"] == "ES256" and header["typ"] == RECEIPT_TYPE, header
    keys = jwt.PyJWKSet.from_dict(httpx.get(daemon.url + "/v1/keys").json())
    key = next(k for k in keys.keys if k.key_id == header["kid"])
    return dict(jwt.decode(receipt, key=key, algorithms=["ES256"], options={"require": ["iss", "iat"]}))


def fetch_receipt(daemon: Daemon, ref: str) -> httpx.Response:
    with daemon.kiosk() as k:
        return k.get(f"/v1/orders/{ref}/receipt")


def test_the_receipt_is_a_jws_that_verifies_with_the_published_keys(
    daemon: Daemon, signed_order: dict[str, Any]
) -> None:
    answer = fetch_receipt(daemon, signed_order["ref"])
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/jose"
    claims = verified_claims(daemon, answer.text)
    assert claims["orderRef"] == signed_order["ref"]
    assert claims["kind"] == "sign"
    assert claims["kiosk"]["name"] == "Bergen sentrum" and claims["kiosk"]["id"]
    assert claims["customer"] == {"id": signed_order["completion"]["customer"]["id"], "name": "Ola Nordmann"}
    assert claims["certificateSerial"] == signed_order["completion"]["customer"]["certificateSerial"]
    assert claims["userVisibleData"] == "Eg signerer lånavtalen"
    assert claims["startedAt"] <= claims["approvedAt"] <= claims["completedAt"]
    # The national identity number is not in the receipt (signer/receipts.py says why).
    payload = base64.urlsafe_b64decode(answer.text.split(".")[1] + "==")
    assert signed_order["number"].encode() not in payload

    tampered = claims | {"userVisibleData": "Eg signerer noko anna"}
    head, _, signature = answer.text.split(".")
    forged = ".".join([head, jwt.utils.base64url_encode(json.dumps(tampered).encode()).decode(), signature])
    with pytest.raises(jwt.InvalidSignatureError):
        verified_claims(daemon, forged)


def test_every_output_hash_matches_the_signed_bytes_the_kiosk_fetches(
    daemon: Daemon, signed_order: dict[str, Any]
) -> None:
    claims = verified_claims(daemon, fetch_receipt(daemon, signed_order["ref"]).text)
    documents = claims["documents"]
    assert [d["index"] for d in documents] == [0, 1]
    with daemon.kiosk() as k:
        for doc, (name, _, content) in zip(documents, signed_order["inputs"], strict=True):
            output = k.get(f"/v1/orders/{signed_order['ref']}/documents/{doc['index']}")
            assert output.status_code == 200
            assert doc["name"] == name
            assert doc["sha256"] == hashlib.sha256(content).hexdigest()  # the input
            assert doc["signedSha256"] == hashlib.sha256(output.content).hexdigest()  # the output
            assert doc["signedSha256"] != doc["sha256"]
    assert [d["format"] for d in documents] == ["pades", "cms"]


def test_the_receipt_carries_the_devices_approval_which_verifies_over_the_challenge(
    daemon: Daemon, signed_order: dict[str, Any]
) -> None:
    claims = verified_claims(daemon, fetch_receipt(daemon, signed_order["ref"]).text)
    device, approval = claims["device"], claims["approval"]
    message = base64.b64decode(approval["message"])
    assert hashlib.sha256(message).hexdigest() == approval["messageSha256"]
    public = serialization.load_der_public_key(base64.b64decode(device["publicKey"]))
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(base64.b64decode(approval["signature"]), message, ec.ECDSA(hashes.SHA256()))
    # The signed bytes are the approval of this order's challenge over these very inputs.
    prefix = APPROVAL_CONTEXT + b"approve\n"
    assert message.startswith(prefix)
    challenge = json.loads(message[len(prefix) :])
    assert canonical_json(challenge) == message[len(prefix) :]
    assert challenge["orderRef"] == signed_order["ref"]
    assert challenge["kiosk"] == claims["kiosk"]
    assert [d["sha256"] for d in challenge["documents"]] == [d["sha256"] for d in claims["documents"]]


def test_only_the_kiosk_that_ran_the_order_gets_its_receipt(daemon: Daemon, signed_order: dict[str, Any]) -> None:
    other = daemon.run("tillit-signer", "kiosks", "add", "--name", "Tromsø").stdout.strip()
    staff = daemon.run("tillit-signer", "kiosks", "add", "--name", "Backoffice", "--staff").stdout.strip()
    url = f"{daemon.url}/v1/orders/{signed_order['ref']}/receipt"
    elsewhere = httpx.get(url, headers={"Authorization": f"Bearer {other}"})
    assert elsewhere.status_code == 404 and elsewhere.json()["error"] == "notFound", elsewhere.text
    assert httpx.get(url, headers={"Authorization": f"Bearer {staff}"}).status_code == 403
    assert httpx.get(url).status_code == 401
    with daemon.kiosk() as k:
        unknown = k.get("/v1/orders/00000000-0000-0000-0000-000000000000/receipt")
    assert unknown.status_code == 404 and unknown.json()["reason"]


def test_an_order_that_is_not_a_completed_sign_order_has_no_receipt(
    daemon: Daemon, customer: tuple[str, PhoneClient]
) -> None:
    number, _ = customer
    with daemon.kiosk() as k:
        started = k.post("/v1/auth", json={"personalNumber": number})
        assert started.status_code == 200, started.text
        ref = started.json()["orderRef"]
        open_order = k.get(f"/v1/orders/{ref}/receipt")
        k.post("/v1/cancel", json={"orderRef": ref})
    assert open_order.status_code == 409 and open_order.json()["reason"], open_order.text


def test_a_receipt_is_never_accepted_as_a_login(daemon: Daemon, signed_order: dict[str, Any]) -> None:
    """Signed by the same key as the completion tokens, a receipt must not open a customer session."""
    receipt = fetch_receipt(daemon, signed_order["ref"]).text
    with daemon.kiosk() as k:
        answer = k.get("/v1/agreements", headers={"X-Tillit-Session": receipt})
    assert answer.status_code == 401, answer.text


def test_the_cli_prints_the_receipt_decoded_and_as_issued(daemon: Daemon, signed_order: dict[str, Any]) -> None:
    ref = signed_order["ref"]
    issued = fetch_receipt(daemon, ref).text
    assert daemon.run("tillit-signer", "receipts", "show", ref, "--jws").stdout.strip() == issued
    decoded = json.loads(daemon.run("tillit-signer", "receipts", "show", ref, "--json").stdout)
    assert decoded == verified_claims(daemon, issued)
    assert "Ola Nordmann" in daemon.run("tillit-signer", "receipts", "show", ref).stdout
    missing = daemon.run("tillit-signer", "receipts", "show", "nope", check=False)
    assert missing.returncode == 1 and missing.stderr.strip() == "tillit-signer: no receipt for that order"


def test_the_audit_records_each_outputs_hash(daemon: Daemon, signed_order: dict[str, Any]) -> None:
    ref = signed_order["ref"]
    with sqlite3.connect(f"file:{daemon.home / 'signer.db'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT data FROM audit WHERE event='signature.created' AND subject=? ORDER BY seq", (ref,)
        ).fetchall()
    entries = [json.loads(row[0]) for row in rows]
    with daemon.kiosk() as k:
        outputs = [k.get(f"/v1/orders/{ref}/documents/{i}").content for i in range(2)]
    assert [e["signed_sha256"] for e in entries] == [hashlib.sha256(o).hexdigest() for o in outputs]
    assert [e["sha256"] for e in entries] == [hashlib.sha256(c).hexdigest() for _, _, c in signed_order["inputs"]]
    assert daemon.run("tillit-signer", "audit", "verify").returncode == 0

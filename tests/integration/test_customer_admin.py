"""What an administrator sees and does with `tillit-signer customers ...`, against the real daemon:
a revoked certificate shown as such and refused up front at /v1/sign, a block's reason from a list,
and `customers show` in readable lines."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator

import httpx
import pytest

from tests.daemon import PASSWORD, Daemon
from tests.factories import fresh_adult
from tillit.signer.customers.lifecycle import BLOCK_REASONS

pytestmark = pytest.mark.integration

SIGN_BODY = {
    "userVisibleData": "Lånekontrakt",
    "documents": [{"name": "a.txt", "contentType": "text/plain", "content": base64.b64encode(b"avtale").decode()}],
}


@pytest.fixture
def kiosk(daemon: Daemon) -> Iterator[httpx.Client]:
    with daemon.kiosk() as client:
        yield client


def show_json(daemon: Daemon, number: str) -> dict[str, object]:
    return dict(json.loads(daemon.run("tillit-signer", "customers", "show", number, "--json").stdout))


def show_text(daemon: Daemon, number: str) -> str:
    return daemon.run("tillit-signer", "customers", "show", number).stdout


def orders_of(daemon: Daemon, customer_id: object) -> int:
    with sqlite3.connect(daemon.home / "signer.db") as db:
        return int(db.execute("SELECT count(*) FROM orders WHERE customer_id=?", (customer_id,)).fetchone()[0])


def test_a_revoked_certificate_is_shown_and_a_sign_order_is_refused_before_the_phone_is_asked(
    daemon: Daemon, kiosk: httpx.Client
) -> None:
    number = fresh_adult()
    daemon.enrol(number)
    phone = daemon.add_device(number)
    try:
        serial = show_json(daemon, number)["certificateSerial"]
        daemon.run("tillit-signer", "customers", "revoke-certificate", number, "--reason", "keyCompromise")

        shown = show_json(daemon, number)
        certificate = shown["certificate"]
        assert isinstance(certificate, dict)
        assert (certificate["serial"], certificate["status"], certificate["reason"]) == (
            serial,
            "revoked",
            "keyCompromise",
        )
        assert certificate["revokedAt"]
        text = show_text(daemon, number)
        assert f"{serial}, REVOKED" in text and "keyCompromise" in text
        assert f"to sign again: tillit-signer customers reissue-certificate {number}" in text

        before = orders_of(daemon, shown["id"])
        refused = kiosk.post("/v1/sign", json={"personalNumber": number, **SIGN_BODY})
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"] == "certificateRevoked"
        assert "reissue-certificate" in refused.json()["reason"]
        assert orders_of(daemon, shown["id"]) == before, "no order was stored"
        assert phone.requests(wait=0).requests == [], "the phone was not asked"

        # Login does not use the customer's certificate: it goes on as before.
        login = kiosk.post("/v1/auth", json={"personalNumber": number})
        assert login.status_code == 200
        asked = phone.requests(wait=5).requests
        assert [r.order_ref for r in asked] == [login.json()["orderRef"]]
        phone.decide(asked[0], "approve")
        done = kiosk.post("/v1/password", json={"orderRef": login.json()["orderRef"], "password": PASSWORD})
        assert done.json()["status"] == "complete"

        # The administrator's fix from the message: a new certificate, and signing works again.
        daemon.run("tillit-signer", "customers", "reissue-certificate", number)
        assert show_json(daemon, number)["certificate"]["status"] == "valid"  # type: ignore[index]
        order = kiosk.post("/v1/sign", json={"personalNumber": number, **SIGN_BODY})
        assert order.status_code == 200, order.text
        phone.decide(phone.requests(wait=5).requests[0], "approve")
        signed = kiosk.post("/v1/password", json={"orderRef": order.json()["orderRef"], "password": PASSWORD})
        assert signed.json()["status"] == "complete"
    finally:
        phone.close()


def test_block_takes_a_reason_from_a_list_and_says_which_when_it_is_missing(daemon: Daemon) -> None:
    number = fresh_adult()
    daemon.enrol(number)
    for wrong in ([], ["--reason", "mista telefonen"]):
        refused = daemon.run("tillit-signer", "customers", "block", number, *wrong, check=False)
        assert refused.returncode != 0
        assert "Traceback" not in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert all(code in refused.stderr for code in BLOCK_REASONS), refused.stderr
        assert show_json(daemon, number)["status"] == "active", "nothing changed"

    daemon.run("tillit-signer", "customers", "block", number, "--reason", "lost-phone", "--note", "mista på bussen")
    assert show_json(daemon, number)["blockedReason"] == "lost-phone: mista på bussen"
    text = show_text(daemon, number)
    assert "blocked (lost-phone: mista på bussen)" in text
    assert f"to sign again: tillit-signer customers unblock {number}" in text


def test_show_prints_the_device_in_lines_and_json_with_json(daemon: Daemon) -> None:
    number = fresh_adult()
    daemon.enrol(number, "Ola Nordmann")
    text = show_text(daemon, number)
    assert "none active: the customer activates the app" in text
    phone = daemon.add_device(number)
    phone.close()
    shown = show_json(daemon, number)
    device = shown["device"]
    assert isinstance(device, dict) and device["id"] == phone.device_id and device["status"] == "active"
    text = show_text(daemon, number)
    assert text.startswith(f"Ola Nordmann ({number})\n")
    assert f"phone ({phone.device_id}), active since " in text
    assert "{" not in text and "'" not in text, "no Python dicts"

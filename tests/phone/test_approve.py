"""`tillit-phone approve` / `decline` drive real orders; their exit codes tell the outcomes apart."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import httpx
import pytest

from tests.phone.conftest import collect, password, phone_of, start_login
from tillit.phone.pytest_plugin import TillitCustomer, TillitPhone, TillitSigner

pytestmark = pytest.mark.integration


def test_approve_completes_a_login(kiosk: httpx.Client, kari: TillitCustomer) -> None:
    phone = phone_of(kari)
    order = start_login(kiosk, kari.personal_number)
    approved = phone.approve(wait=10)
    assert approved.exit_code == 0, approved.stderr
    assert approved.request == {
        "orderRef": order["orderRef"],
        "reference": order["reference"],
        "kind": "auth",
        "method": "app",
        "kioskName": "Bergen sentrum",
        "userVisibleData": approved.request["userVisibleData"] if approved.request else None,
        "userVisibleDataFormat": "plaintext",
        "passwordBy": "kiosk",
        "documents": [],
        "decision": "approve",
        "outcome": "done",
    }
    assert collect(kiosk, order["orderRef"])["hintCode"] == "userSign"
    done = password(kiosk, order["orderRef"], kari.password)
    assert done["status"] == "complete"
    assert done["completionData"]["customer"]["personalNumber"] == kari.personal_number
    last = phone.status()["history"][0]
    assert last["orderRef"] == order["orderRef"]
    assert (last["decision"], last["outcome"], last["kind"]) == ("approve", "done", "auth")


def test_decline_ends_the_order_with_user_cancel(kiosk: httpx.Client, kari: TillitCustomer) -> None:
    phone = phone_of(kari)
    order = start_login(kiosk, kari.personal_number)
    declined = phone.decline(wait=10)
    assert declined.ok, declined.stderr
    assert declined.request is not None
    assert declined.request["decision"] == "decline"
    assert collect(kiosk, order["orderRef"]) == {
        "orderRef": order["orderRef"],
        "status": "failed",
        "hintCode": "userCancel",
    }
    assert phone.status()["history"][0]["decision"] == "decline"
    assert phone.approve(wait=0).outcome == "nothingPending"  # a declined request is gone


def test_a_request_that_arrives_while_waiting_is_approved_at_once(
    kiosk: httpx.Client, kari: TillitCustomer, kit: TillitSigner
) -> None:
    import threading

    phone = phone_of(kari)
    result: list[object] = []
    waiter = threading.Thread(target=lambda: result.append(phone.approve(wait=20)))
    waiter.start()
    time.sleep(1.0)  # let the phone start its long-poll first
    order = start_login(kiosk, kari.personal_number)
    started = time.monotonic()
    waiter.join(30)
    assert time.monotonic() - started < 5  # pushed through the long-poll, not found by a later poll
    (approved,) = result
    assert approved.ok, approved.stderr  # type: ignore[attr-defined]
    assert approved.request["orderRef"] == order["orderRef"]  # type: ignore[attr-defined]
    assert password(kiosk, order["orderRef"], kari.password)["status"] == "complete"


def test_nothing_pending_exits_3_after_waiting(kari: TillitCustomer) -> None:
    phone = phone_of(kari)
    assert phone.approve(wait=0).exit_code == 3
    started = time.monotonic()
    waited = phone.decline(wait=1.5)
    assert waited.exit_code == 3 and waited.outcome == "nothingPending"
    assert waited.request is None
    assert "no request for this phone is pending" in waited.stderr
    assert time.monotonic() - started >= 1.5


def test_a_wrong_app_pin_unlocks_nothing_and_approves_nothing(kiosk: httpx.Client, kari: TillitCustomer) -> None:
    phone = phone_of(kari)
    order = start_login(kiosk, kari.personal_number)
    try:
        refused = phone.approve(wait=5, pin="0000")
        assert refused.exit_code == 2, refused.stderr
        assert refused.request is None
        assert "wrong app PIN" in refused.stderr
        assert "0000" not in refused.stderr
        assert collect(kiosk, order["orderRef"])["hintCode"] == "outstandingTransaction"
        piped = phone.run("approve", "--pin-stdin", stdin="1234\n", pin="2580")  # --pin-stdin wins over the env
        assert piped.returncode == 2 and "wrong app PIN" in piped.stderr
        # Not digits (a newcomer probe's TILLIT_PHONE_PIN=abc used up an attempt): refused unsent.
        letters = phone.approve(wait=0, pin="abcd")
        assert letters.exit_code == 2 and "the app PIN is digits only" in letters.stderr, letters.stderr
        assert "attempts left" not in letters.stderr
        assert collect(kiosk, order["orderRef"])["hintCode"] == "outstandingTransaction"
    finally:
        kiosk.post("/v1/cancel", json={"orderRef": order["orderRef"]})


def test_reference_picks_the_request_showing_those_words(kiosk: httpx.Client, kari: TillitCustomer) -> None:
    phone = phone_of(kari)
    order = start_login(kiosk, kari.personal_number)
    try:
        other = "GRØN ØY" if order["reference"] != "GRØN ØY" else "BLÅ FJORD"
        assert phone.approve(wait=0.5, reference=other).exit_code == 3
        approved = phone.approve(wait=5, reference=order["reference"].lower())
        assert approved.ok and approved.request is not None
        assert approved.request["orderRef"] == order["orderRef"]
        assert password(kiosk, order["orderRef"], kari.password)["status"] == "complete"
    finally:
        kiosk.post("/v1/cancel", json={"orderRef": order["orderRef"]})


def test_a_sign_order_shows_its_documents(kiosk: httpx.Client, kari: TillitCustomer) -> None:
    phone = phone_of(kari)
    content = b"Avtale om sparekonto\n"
    r = kiosk.post(
        "/v1/sign",
        json={
            "personalNumber": kari.personal_number,
            "userVisibleData": "Signer avtale om sparekonto",
            "documents": [
                {"name": "sparekonto.txt", "contentType": "text/plain", "content": base64.b64encode(content).decode()}
            ],
        },
    )
    assert r.status_code == 200, r.text
    order = r.json()
    declined = phone.decline(wait=10)
    assert declined.ok and declined.request is not None
    assert declined.request["kind"] == "sign"
    assert declined.request["userVisibleData"] == "Signer avtale om sparekonto"
    assert declined.request["documents"] == [{"name": "sparekonto.txt", "sha256": hashlib.sha256(content).hexdigest()}]
    assert collect(kiosk, order["orderRef"])["hintCode"] == "userCancel"


def test_status_tells_who_since_when_and_what_was_answered(kari: TillitCustomer) -> None:
    phone = phone_of(kari)
    text = phone.run("status")
    assert text.returncode == 0
    assert f"Profile {phone.profile}: activated" in text.stdout
    assert f"Kari Nordmann ({kari.personal_number})" in text.stdout
    assert "biometric   off" in text.stdout
    data = json.loads(phone.run("status", "--json").stdout)
    assert data["activated"] and data["activatedAt"] and data["deviceId"]
    assert "2580" not in text.stdout + json.dumps(data)
    missing = TillitPhone(phone.home, "nobody").run("status", "--json")
    assert json.loads(missing.stdout) == {"profile": "nobody", "exists": False, "activated": False}


def test_biometric_is_turned_on_and_off_with_the_pin(kari: TillitCustomer) -> None:
    phone = phone_of(kari)
    refused = phone.run("biometric", "on", pin="9999")
    assert refused.returncode == 2 and "wrong app PIN" in refused.stderr
    assert phone.run("biometric", "on").returncode == 0
    assert phone.status()["biometric"] is True
    assert phone.run("biometric", "off").returncode == 0
    assert phone.status()["biometric"] is False

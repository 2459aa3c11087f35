"""The login (auth order) over the real daemon: uvicorn on loopback, a real SoftHSM token, httpx.

Each test enrols a fresh customer with a fresh device key on the module's daemon, walks one path of
the README's login flow (or tries to break one of the security invariants), and then checks that
`tillit-signer audit verify` still accepts the chain.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.daemon import PASSWORD, Daemon, make_daemon
from tests.factories import fresh_adult
from tillit.phone.client import PhoneClient, sign_bytes
from tillit.signer.tokens import verify_jwt
from tillit.signer.wire import AppRequest, approval_message

pytestmark = pytest.mark.integration

WRONG = "Fjord-Hest-2025"


# -- helpers ---------------------------------------------------------------------------------------


def audit_ok(d: Daemon) -> int:
    """Run `tillit-signer audit verify`; it must exit 0. Returns the number of entries."""
    result = d.run("tillit-signer", "audit", "verify", check=False)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split(":")[1].split()[0])


def audit_events(d: Daemon) -> list[tuple[str, str, dict[str, Any]]]:
    db = sqlite3.connect(d.home / "signer.db", timeout=30)
    try:
        rows = db.execute("SELECT event, subject, data FROM audit ORDER BY seq").fetchall()
    finally:
        db.close()
    return [(e, s, json.loads(data)) for e, s, data in rows]


def failures(d: Daemon, number: str) -> int:
    """The customer's failed-password count, read from the store (cheaper than a `customers show`)."""
    db = sqlite3.connect(d.home / "signer.db", timeout=30)
    try:
        return int(db.execute("SELECT failed_passwords FROM customers WHERE personal_number=?", [number]).fetchone()[0])
    finally:
        db.close()


def show(d: Daemon, number: str) -> dict[str, Any]:
    return dict(json.loads(d.run("tillit-signer", "customers", "show", number, "--json").stdout))


def start(k: httpx.Client, number: str, **extra: Any) -> dict[str, Any]:
    r = k.post("/v1/auth", json={"personalNumber": number, **extra})
    assert r.status_code == 200, r.text
    return dict(r.json())


def collect(k: httpx.Client, ref: str) -> dict[str, Any]:
    r = k.post("/v1/collect", json={"orderRef": ref})
    assert r.status_code == 200, r.text
    return dict(r.json())


def password(k: httpx.Client, ref: str, text: str) -> httpx.Response:
    return k.post("/v1/password", json={"orderRef": ref, "password": text})


def request_for(phone: PhoneClient, ref: str, wait: float = 5) -> AppRequest:
    """The phone's pending request for this order (long-polls until it is there)."""
    deadline = time.monotonic() + wait
    while True:
        found = [r for r in phone.requests(wait=max(0.1, deadline - time.monotonic())).requests if r.order_ref == ref]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"the phone never saw order {ref}"


def signed_approval(
    phone: PhoneClient, ref: str, challenge: dict[str, Any], decision: str = "approve", sent_as: str | None = None
) -> tuple[str, bytes, dict[str, str]]:
    """One device-signed HTTP request (path, body, headers) carrying an approval over `challenge`."""
    signature = sign_bytes(phone.key, approval_message(challenge, decision))
    body = json.dumps({"decision": sent_as or decision, "signature": signature}).encode()
    path = f"/v1/app/requests/{ref}"
    headers = {**phone.signed_headers("POST", path, body), "Content-Type": "application/json"}
    return path, body, headers


def send(phone: PhoneClient, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return phone.http.post(phone.server + path, content=body, headers=headers)


def approve(phone: PhoneClient, ref: str) -> AppRequest:
    req = request_for(phone, ref)
    phone.decide(req, "approve")
    return req


@pytest.fixture
def kiosk(daemon: Daemon) -> Iterator[httpx.Client]:
    with daemon.kiosk() as k:
        yield k


def _enrolled(d: Daemon) -> tuple[str, PhoneClient]:
    number = fresh_adult()
    d.enrol(number)
    return number, d.add_device(number)


@pytest.fixture(scope="module")
def enrolled(request: pytest.FixtureRequest, daemon: Daemon) -> Iterator[list[tuple[str, PhoneClient]]]:
    """Customers enrolled ahead, a few at a time (each `tillit-signer` run costs most of a second):
    one for each selected test of this module that takes a `customer`."""
    wanted = sum(
        1 for item in request.session.items if item.module is request.module and "customer" in item.fixturenames
    )
    with ThreadPoolExecutor(4) as pool:
        ready = list(pool.map(lambda _: _enrolled(daemon), range(wanted)))
    handed_out = list(ready)
    yield ready
    for _, phone in handed_out:
        phone.close()


@pytest.fixture
def customer(
    request: pytest.FixtureRequest, daemon: Daemon, enrolled: list[tuple[str, PhoneClient]]
) -> tuple[str, PhoneClient]:
    """A freshly enrolled customer (synthetic number) and their one active device, used by one test."""
    if not enrolled:
        number, phone = _enrolled(daemon)
        request.addfinalizer(phone.close)
        return number, phone
    return enrolled.pop()


@pytest.fixture(autouse=True)
def audit_still_verifies(daemon: Daemon) -> Iterator[None]:
    yield
    audit_ok(daemon)


def test_customers_list_shows_the_enrolled_customers_as_show_does(
    daemon: Daemon, customer: tuple[str, PhoneClient]
) -> None:
    number, _ = customer
    listed = json.loads(daemon.run("tillit-signer", "customers", "list", "--json").stdout)
    assert isinstance(listed, list) and len({c["personalNumber"] for c in listed}) == len(listed)
    mine = [c for c in listed if c["personalNumber"] == number]
    assert len(mine) == 1
    shown = show(daemon, number)
    assert {k: shown[k] for k in mine[0]} == mine[0]
    assert mine[0]["status"] == "active" and "passwordHash" not in mine[0] and "password_hash" not in mine[0]
    text = daemon.run("tillit-signer", "customers", "list").stdout
    assert number in text and shown["name"] in text


# -- the happy path ----------------------------------------------------------------------------------


def test_approve_and_right_password_complete_with_a_verifiable_jwt(
    daemon: Daemon, kiosk: httpx.Client, customer: tuple[str, PhoneClient]
) -> None:
    number, phone = customer
    started = start(kiosk, number)
    ref = started["orderRef"]
    assert started["expiresAt"] > time.time() + 170
    assert collect(kiosk, ref) == {"orderRef": ref, "status": "pending", "hintCode": "outstandingTransaction"}

    req = request_for(phone, ref)
    assert req.reference == started["reference"]
    assert req.kiosk_name == "Bergen sentrum"
    assert req.challenge["orderRef"] == ref
    assert req.challenge["documents"] == []
    assert req.challenge["kiosk"]["name"] == "Bergen sentrum"
    assert phone.decide(req, "approve") == {"orderRef": ref, "decision": "approve"}
    assert collect(kiosk, ref) == {"orderRef": ref, "status": "pending", "hintCode": "userSign", "attemptsLeft": 5}
    assert phone.requests().requests == []  # answered: no longer offered

    r = password(kiosk, ref, PASSWORD)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "complete"
    assert "hintCode" not in done
    data = done["completionData"]
    info = show(daemon, number)
    assert data["customer"]["id"] == info["id"]
    assert data["customer"]["personalNumber"] == number
    assert data["device"]["id"] == phone.device_id
    assert data["level"] == "high"
    assert collect(kiosk, ref) == done

    jwks = httpx.get(daemon.url + "/v1/keys").json()
    assert [k["alg"] for k in jwks["keys"]] == ["ES256"]
    claims = verify_jwt(data["token"], jwks)
    assert claims is not None, "the completion token does not verify against GET /v1/keys"
    kiosk_id = next(
        k["id"]
        for k in json.loads(daemon.run("tillit-signer", "kiosks", "list", "--json").stdout)
        if k["name"] == "Bergen sentrum"
    )
    assert claims["acr"] == "high"
    assert claims["sub"] == info["id"]
    assert claims["aud"] == kiosk_id
    assert claims["exp"] > time.time()
    # Any change to the token breaks it.
    head, body, sig = data["token"].split(".")
    assert verify_jwt(f"{head}.{body}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}", jwks) is None
    assert verify_jwt(data["token"], {"keys": []}) is None
    assert info["failedPasswords"] == 0 and info["passwordLocked"] is False


# -- final states ------------------------------------------------------------------------------------


def test_decline_fails_with_user_cancel(kiosk: httpx.Client, customer: tuple[str, PhoneClient]) -> None:
    number, phone = customer
    ref = start(kiosk, number)["orderRef"]
    req = request_for(phone, ref)
    assert phone.decide(req, "decline")["decision"] == "decline"
    assert collect(kiosk, ref) == {"orderRef": ref, "status": "failed", "hintCode": "userCancel"}
    # Final: neither an approval nor the password moves it.
    r = phone.request(
        "POST",
        f"/v1/app/requests/{ref}",
        {"decision": "approve", "signature": sign_bytes(phone.key, approval_message(req.challenge, "approve"))},
    )
    assert r.status_code == 409, r.text
    r = password(kiosk, ref, PASSWORD)
    assert r.status_code == 200 and r.json()["status"] == "failed" and r.json()["hintCode"] == "userCancel"


def test_a_decline_signature_cannot_be_sent_as_an_approval(
    kiosk: httpx.Client, customer: tuple[str, PhoneClient]
) -> None:
    number, phone = customer
    ref = start(kiosk, number)["orderRef"]
    req = request_for(phone, ref)
    r = send(phone, *signed_approval(phone, ref, req.challenge, decision="decline", sent_as="approve"))
    assert r.status_code == 400 and r.json()["error"] == "badSignature", r.text
    assert collect(kiosk, ref)["hintCode"] == "outstandingTransaction"


def test_cancel_fails_the_order_and_a_later_approval_gets_409(
    kiosk: httpx.Client, customer: tuple[str, PhoneClient]
) -> None:
    number, phone = customer
    ref = start(kiosk, number)["orderRef"]
    req = request_for(phone, ref)
    r = kiosk.post("/v1/cancel", json={"orderRef": ref})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "failed" and r.json()["hintCode"] == "cancelled"
    assert phone.requests().requests == []
    r = send(phone, *signed_approval(phone, ref, req.challenge))
    assert r.status_code == 409, r.text
    assert collect(kiosk, ref) == {"orderRef": ref, "status": "failed", "hintCode": "cancelled"}
    # Cancelling again changes nothing.
    r = kiosk.post("/v1/cancel", json={"orderRef": ref})
    assert r.status_code == 200 and r.json()["hintCode"] == "cancelled"


def test_cancel_after_approval(kiosk: httpx.Client, customer: tuple[str, PhoneClient]) -> None:
    number, phone = customer
    ref = start(kiosk, number)["orderRef"]
    approve(phone, ref)
    assert kiosk.post("/v1/cancel", json={"orderRef": ref}).json()["hintCode"] == "cancelled"
    r = password(kiosk, ref, PASSWORD)
    assert r.status_code == 200 and r.json() == {"orderRef": ref, "status": "failed", "hintCode": "cancelled"}


def test_a_second_order_for_the_customer_fails_both(kiosk: httpx.Client, customer: tuple[str, PhoneClient]) -> None:
    number, phone = customer
    first = start(kiosk, number)["orderRef"]
    req = request_for(phone, first)
    second = start(kiosk, number)["orderRef"]
    assert second != first
    for ref in (first, second):
        assert collect(kiosk, ref) == {"orderRef": ref, "status": "failed", "hintCode": "alreadyInProgress"}
    assert phone.requests().requests == []
    r = send(phone, *signed_approval(phone, first, req.challenge))
    assert r.status_code == 409, r.text
    # The customer can start over: the third order is a normal one.
    third = start(kiosk, number)["orderRef"]
    approve(phone, third)
    assert password(kiosk, third, PASSWORD).json()["status"] == "complete"


def test_a_second_order_after_approval_fails_both(kiosk: httpx.Client, customer: tuple[str, PhoneClient]) -> None:
    number, phone = customer
    first = start(kiosk, number)["orderRef"]
    approve(phone, first)
    second = start(kiosk, number)["orderRef"]
    for ref in (first, second):
        assert collect(kiosk, ref)["hintCode"] == "alreadyInProgress"
    r = password(kiosk, first, PASSWORD)
    assert r.json() == {"orderRef": first, "status": "failed", "hintCode": "alreadyInProgress"}


def test_password_before_approval_is_409(
    daemon: Daemon, kiosk: httpx.Client, customer: tuple[str, PhoneClient]
) -> None:
    number, _ = customer
    ref = start(kiosk, number)["orderRef"]
    r = password(kiosk, ref, PASSWORD)
    assert r.status_code == 409, r.text
    assert set(r.json()) == {"error", "reason"}
    assert collect(kiosk, ref)["hintCode"] == "outstandingTransaction"
    assert failures(daemon, number) == 0


def test_unknown_numbers_and_customers_without_an_app_look_alike(daemon: Daemon, kiosk: httpx.Client) -> None:
    enrolled = fresh_adult()
    daemon.enrol(enrolled)
    for number in (enrolled, fresh_adult()):
        ref = start(kiosk, number)["orderRef"]
        assert collect(kiosk, ref) == {"orderRef": ref, "status": "failed", "hintCode": "noDevice"}


# -- the password lock -------------------------------------------------------------------------------


def test_five_wrong_passwords_lock_until_unlocked(
    daemon: Daemon, kiosk: httpx.Client, customer: tuple[str, PhoneClient]
) -> None:
    number, phone = customer
    ref = start(kiosk, number)["orderRef"]
    approve(phone, ref)
    for left in (4, 3, 2, 1):
        r = password(kiosk, ref, WRONG)
        assert r.status_code == 200, r.text
        assert r.json() == {"orderRef": ref, "status": "pending", "hintCode": "wrongPassword", "attemptsLeft": left}
    r = password(kiosk, ref, WRONG)
    assert r.json() == {"orderRef": ref, "status": "failed", "hintCode": "passwordLocked", "attemptsLeft": 0}
    # Final: the right password on the same order changes nothing.
    r = password(kiosk, ref, PASSWORD)
    assert r.json()["status"] == "failed" and r.json()["hintCode"] == "passwordLocked"
    info = show(daemon, number)
    assert info["passwordLocked"] is True and info["failedPasswords"] == 5

    # A new order fails at once; the phone is not even asked.
    locked = start(kiosk, number)["orderRef"]
    assert collect(kiosk, locked) == {"orderRef": locked, "status": "failed", "hintCode": "passwordLocked"}
    assert phone.requests().requests == []
    r = password(kiosk, locked, PASSWORD)
    assert r.status_code in (200, 409), r.text
    assert collect(kiosk, locked)["status"] == "failed"
    assert failures(daemon, number) == 5

    out = daemon.run("tillit-signer", "customers", "unlock", number)
    assert number in out.stdout
    info = show(daemon, number)
    assert info["passwordLocked"] is False and info["failedPasswords"] == 0
    ref = start(kiosk, number)["orderRef"]
    approve(phone, ref)
    assert password(kiosk, ref, PASSWORD).json()["status"] == "complete"


def test_a_right_password_resets_the_count(
    daemon: Daemon, kiosk: httpx.Client, customer: tuple[str, PhoneClient]
) -> None:
    number, phone = customer
    ref = start(kiosk, number)["orderRef"]
    approve(phone, ref)
    for _ in range(4):
        password(kiosk, ref, WRONG)
    assert password(kiosk, ref, PASSWORD).json()["status"] == "complete"
    assert failures(daemon, number) == 0
    ref = start(kiosk, number)["orderRef"]
    approve(phone, ref)
    assert password(kiosk, ref, WRONG).json()["attemptsLeft"] == 4


def _guess_concurrently(d: Daemon, ref: str, guesses: int) -> list[httpx.Response]:
    barrier = threading.Barrier(guesses)
    limits = httpx.Limits(max_connections=guesses, max_keepalive_connections=guesses)
    with httpx.Client(
        base_url=d.url, headers={"Authorization": f"Bearer {d.kiosk_token}"}, timeout=60, limits=limits
    ) as k:

        def guess(_: int) -> httpx.Response:
            barrier.wait(10)
            return password(k, ref, WRONG)

        with ThreadPoolExecutor(guesses) as pool:
            return list(pool.map(guess, range(guesses)))


def _classify(responses: list[httpx.Response]) -> tuple[list[int], int, int]:
    """(attemptsLeft of each wrongPassword answer, answers that locked, answers refused as busy)."""
    wrong, locking, busy = [], 0, 0
    for r in responses:
        assert r.status_code in (200, 409), r.text
        if r.status_code == 409:
            assert "already running" in r.json()["reason"], r.text
            busy += 1
            continue
        body = r.json()
        if body["hintCode"] == "wrongPassword":
            wrong.append(body["attemptsLeft"])
        elif body.get("attemptsLeft") == 0:
            assert body["hintCode"] == "passwordLocked" and body["status"] == "failed"
            locking += 1
        else:
            assert body == {"orderRef": body["orderRef"], "status": "failed", "hintCode": "passwordLocked"}
    return wrong, locking, busy


def test_the_lock_is_exact_under_twenty_concurrent_wrong_guesses(
    daemon: Daemon, kiosk: httpx.Client, customer: tuple[str, PhoneClient]
) -> None:
    number, phone = customer
    ref = start(kiosk, number)["orderRef"]
    approve(phone, ref)
    wrong, locking, _busy = _classify(_guess_concurrently(daemon, ref, 20))
    info = show(daemon, number)
    assert info["failedPasswords"] == len(wrong) + locking
    assert locking == 1, "exactly one answer reports the lock"
    assert sorted(wrong, reverse=True) == [4, 3, 2, 1], "the lock comes at exactly the fifth failure"
    assert info["failedPasswords"] == 5 and info["passwordLocked"] is True
    assert collect(kiosk, ref)["hintCode"] == "passwordLocked"
    events = [e for e in audit_events(daemon) if e[1] == info["id"]]
    assert sum(e[0] == "password.wrong" for e in events) == 5
    assert sum(e[0] == "customer.password_locked" for e in events) == 1
    daemon.run("tillit-signer", "customers", "unlock", number)


def test_the_lock_is_exact_across_orders_under_concurrent_guesses(
    daemon: Daemon, kiosk: httpx.Client, customer: tuple[str, PhoneClient]
) -> None:
    number, phone = customer
    first = start(kiosk, number)["orderRef"]
    approve(phone, first)
    wrong, locking, busy = _classify(_guess_concurrently(daemon, first, 3))
    assert locking == 0
    assert show(daemon, number)["failedPasswords"] == len(wrong) == 3 - busy
    kiosk.post("/v1/cancel", json={"orderRef": first})
    counted = len(wrong)

    while counted < 5:
        ref = start(kiosk, number)["orderRef"]
        approve(phone, ref)
        wrong, locking, _busy = _classify(_guess_concurrently(daemon, ref, 10))
        # The k-th failure overall leaves 5 - k attempts: no failure counted twice or lost.
        assert sorted(wrong, reverse=True) == [5 - k for k in range(counted + 1, counted + 1 + len(wrong))]
        counted += len(wrong) + locking
        assert failures(daemon, number) == counted
        if locking:
            break
    info = show(daemon, number)
    assert info["failedPasswords"] == 5 and info["passwordLocked"] is True
    daemon.run("tillit-signer", "customers", "unlock", number)


# -- invariant 2: one approval signs once ------------------------------------------------------------


def test_a_replayed_approval_request_is_refused(kiosk: httpx.Client, customer: tuple[str, PhoneClient]) -> None:
    number, phone = customer
    ref = start(kiosk, number)["orderRef"]
    req = request_for(phone, ref)
    path, body, headers = signed_approval(phone, ref, req.challenge)
    first = send(phone, path, body, headers)
    assert first.status_code == 200, first.text
    again = send(phone, path, body, headers)
    assert again.status_code == 401, again.text
    assert "replay" in again.json()["reason"]
    # The same approval, freshly signed as a request, is still only one approval.
    r = phone.request("POST", path, json.loads(body))
    assert r.status_code == 409, r.text
    assert collect(kiosk, ref)["hintCode"] == "userSign"
    assert password(kiosk, ref, PASSWORD).json()["status"] == "complete"
    assert send(phone, path, body, headers).status_code == 401


def test_an_approval_cannot_be_reused_on_another_order(kiosk: httpx.Client, customer: tuple[str, PhoneClient]) -> None:
    number, phone = customer
    a = start(kiosk, number)["orderRef"]
    req_a = request_for(phone, a)
    signature_a = sign_bytes(phone.key, approval_message(req_a.challenge, "approve"))
    r = phone.request("POST", f"/v1/app/requests/{a}", {"decision": "approve", "signature": signature_a})
    assert r.status_code == 200, r.text
    assert password(kiosk, a, PASSWORD).json()["status"] == "complete"

    b = start(kiosk, number)["orderRef"]
    request_for(phone, b)
    r = phone.request("POST", f"/v1/app/requests/{b}", {"decision": "approve", "signature": signature_a})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "badSignature"
    assert collect(kiosk, b) == {"orderRef": b, "status": "pending", "hintCode": "outstandingTransaction"}
    # Order A's challenge re-targeted at B (same nonce, B's ref) is not B's challenge either.
    forged = {**req_a.challenge, "orderRef": b}
    r = send(phone, *signed_approval(phone, b, forged))
    assert r.status_code == 400 and r.json()["error"] == "badSignature", r.text
    assert collect(kiosk, b)["hintCode"] == "outstandingTransaction"
    approve(phone, b)
    assert password(kiosk, b, PASSWORD).json()["status"] == "complete"


MODIFIED_CHALLENGES: list[tuple[str, Any]] = [
    ("userVisibleData", "Overfør 1 000 000 kr til konto 1234.56.78901"),
    ("kiosk", {"id": "another", "name": "Svindel AS"}),
    ("nonce", "chosen-by-the-attacker"),
    ("expiresAt", 4_102_444_800),
    ("documents", [{"name": "avtale.pdf", "sha256": "0" * 64}]),
    ("kind", "sign"),
    ("v", 2),
]


def test_an_approval_over_a_modified_challenge_is_refused(
    kiosk: httpx.Client, customer: tuple[str, PhoneClient]
) -> None:
    number, phone = customer
    ref = start(kiosk, number)["orderRef"]
    req = request_for(phone, ref)
    for field, value in MODIFIED_CHALLENGES:
        modified = {**req.challenge, field: value}
        r = send(phone, *signed_approval(phone, ref, modified))
        assert r.status_code == 400, (field, r.text)
        assert r.json()["error"] == "badSignature"
        assert collect(kiosk, ref) == {"orderRef": ref, "status": "pending", "hintCode": "outstandingTransaction"}
    assert [x.order_ref for x in phone.requests().requests] == [ref]
    phone.decide(req, "approve")
    assert collect(kiosk, ref)["hintCode"] == "userSign"


def test_a_deactivated_device_can_approve_nothing(
    daemon: Daemon, kiosk: httpx.Client, customer: tuple[str, PhoneClient]
) -> None:
    number, old = customer
    ref = start(kiosk, number)["orderRef"]
    req = request_for(old, ref)
    new = daemon.add_device(number)
    try:
        r = send(old, *signed_approval(old, ref, req.challenge))
        assert r.status_code == 403, r.text
        assert r.json()["error"] == "deviceDeactivated"
        assert collect(kiosk, ref) == {"orderRef": ref, "status": "failed", "hintCode": "cancelled"}
        polled = old.requests(wait=0.5)
        assert polled.device_status == "deactivated" and polled.requests == []

        # A new order goes to the new device only; the old one still gets nothing.
        ref2 = start(kiosk, number)["orderRef"]
        assert old.requests().device_status == "deactivated"
        req2 = request_for(new, ref2)
        r = send(old, *signed_approval(old, ref2, req2.challenge))
        assert r.status_code in (403, 404), r.text
        assert collect(kiosk, ref2)["hintCode"] == "outstandingTransaction"
        new.decide(req2, "approve")
        done = password(kiosk, ref2, PASSWORD).json()
        assert done["status"] == "complete"
        assert done["completionData"]["device"]["id"] == new.device_id
        assert show(daemon, number)["device"]["id"] == new.device_id
    finally:
        new.close()


def test_an_approved_order_of_a_replaced_device_cannot_complete_with_the_old_approval(
    daemon: Daemon, kiosk: httpx.Client, customer: tuple[str, PhoneClient]
) -> None:
    """Approved by the old phone, then a new phone is activated: the old approval is void."""
    number, old = customer
    ref = start(kiosk, number)["orderRef"]
    approve(old, ref)
    new = daemon.add_device(number)
    new.close()
    r = password(kiosk, ref, PASSWORD)
    assert r.status_code in (200, 403, 409), r.text
    assert collect(kiosk, ref)["status"] == "failed", "a deactivated device's approval completed a login"


# -- kiosks ------------------------------------------------------------------------------------------


def test_unknown_and_revoked_kiosk_tokens_get_401(
    daemon: Daemon, kiosk: httpx.Client, customer: tuple[str, PhoneClient]
) -> None:
    number, _ = customer
    ref = start(kiosk, number)["orderRef"]
    calls = [
        ("/v1/auth", {"personalNumber": number}),
        ("/v1/collect", {"orderRef": ref}),
        ("/v1/password", {"orderRef": ref, "password": PASSWORD}),
        ("/v1/cancel", {"orderRef": ref}),
    ]
    for headers in ({}, {"Authorization": "Bearer tk_" + "x" * 43}, {"Authorization": "Basic dXNlcjpwdw=="}):
        for path, body in calls:
            r = httpx.post(daemon.url + path, json=body, headers=headers)
            assert r.status_code == 401, (path, headers, r.text)
            assert set(r.json()) == {"error", "reason"}

    name = f"Voss {uuid.uuid4().hex[:8]}"
    token = daemon.run("tillit-signer", "kiosks", "add", "--name", name).stdout.strip()
    with httpx.Client(base_url=daemon.url, headers={"Authorization": f"Bearer {token}"}) as other:
        assert other.post("/v1/auth", json={"personalNumber": fresh_adult()}).status_code == 200
        daemon.run("tillit-signer", "kiosks", "revoke", name)
        for path, body in calls:
            r = other.post(path, json=body)
            assert r.status_code == 401, (path, r.text)
    listed = json.loads(daemon.run("tillit-signer", "kiosks", "list", "--json").stdout)
    assert [k["status"] for k in listed if k["name"] == name] == ["revoked"]
    # The revoked kiosk's failed attempts left the customer's order alone.
    assert collect(kiosk, ref) == {"orderRef": ref, "status": "pending", "hintCode": "outstandingTransaction"}


def test_another_kiosks_order_is_404(daemon: Daemon, kiosk: httpx.Client, customer: tuple[str, PhoneClient]) -> None:
    number, phone = customer
    ref = start(kiosk, number)["orderRef"]
    approve(phone, ref)
    token = daemon.run("tillit-signer", "kiosks", "add", "--name", f"Odda {uuid.uuid4().hex[:8]}").stdout.strip()
    with httpx.Client(base_url=daemon.url, headers={"Authorization": f"Bearer {token}"}) as other:
        for path, body in [
            ("/v1/collect", {"orderRef": ref}),
            ("/v1/password", {"orderRef": ref, "password": WRONG}),
            ("/v1/password", {"orderRef": ref, "password": PASSWORD}),
            ("/v1/cancel", {"orderRef": ref}),
        ]:
            r = other.post(path, json=body)
            assert r.status_code == 404, (path, r.text)
            assert set(r.json()) == {"error", "reason"}
        assert other.get(f"/v1/orders/{ref}/documents/0").status_code == 404
    assert collect(kiosk, ref) == {"orderRef": ref, "status": "pending", "hintCode": "userSign", "attemptsLeft": 5}
    assert failures(daemon, number) == 0
    assert password(kiosk, ref, PASSWORD).json()["status"] == "complete"


# -- the phone's long-poll ---------------------------------------------------------------------------


def test_a_waiting_phone_sees_a_new_order_at_once(kiosk: httpx.Client, customer: tuple[str, PhoneClient]) -> None:
    """The long-poll wakes on the order itself, not on a polling interval: the phone already waiting
    sees each new order well within a tenth of a second (median of five; a poll loop of even 0.25 s
    would put the median near 0.125 s). scripts/bench measures the latency properly."""
    number, phone = customer
    latencies = []
    for _ in range(5):
        seen: dict[str, Any] = {}

        def wait(seen: dict[str, Any] = seen) -> None:
            seen["requests"] = phone.requests(wait=10).requests
            seen["at"] = time.monotonic()

        waiter = threading.Thread(target=wait)
        waiter.start()
        time.sleep(0.3)  # the phone is waiting now (not on the measured path)
        started = start(kiosk, number)
        answered_at = time.monotonic()
        waiter.join(15)
        assert not waiter.is_alive()
        assert [r.order_ref for r in seen["requests"]] == [started["orderRef"]]
        latencies.append(seen["at"] - answered_at)  # negative when the phone woke before the kiosk's answer
        assert kiosk.post("/v1/cancel", json={"orderRef": started["orderRef"]}).status_code == 200
    assert statistics.median(latencies) < 0.1, f"the phone saw the orders after {latencies} s"


def test_an_idle_long_poll_returns_empty_after_its_wait(customer: tuple[str, PhoneClient]) -> None:
    _, phone = customer
    before = time.monotonic()
    polled = phone.requests(wait=1)
    took = time.monotonic() - before
    assert polled.requests == [] and polled.device_status == "active"
    assert 0.9 <= took < 5


# -- refused attempts are audited too ------------------------------------------------------------------


def test_a_rejected_approval_is_in_the_audit_log(
    daemon: Daemon, kiosk: httpx.Client, customer: tuple[str, PhoneClient]
) -> None:
    number, phone = customer
    ref = start(kiosk, number)["orderRef"]
    req = request_for(phone, ref)
    r = send(phone, *signed_approval(phone, ref, {**req.challenge, "userVisibleData": "noe annet"}))
    assert r.status_code == 400
    assert [e for e in audit_events(daemon) if e[0] == "approval.rejected" and e[1] == ref]


def test_every_state_change_of_an_order_is_in_the_audit_log(
    daemon: Daemon, kiosk: httpx.Client, customer: tuple[str, PhoneClient]
) -> None:
    """Pending, approved, complete; and pending, declined: each move is an entry about the order."""
    number, phone = customer
    ref = start(kiosk, number)["orderRef"]
    approve(phone, ref)
    assert password(kiosk, ref, PASSWORD).json()["status"] == "complete"
    declined = start(kiosk, number)["orderRef"]
    phone.decide(request_for(phone, declined), "decline")
    events = audit_events(daemon)
    moves = ("order.started", "order.approved", "order.completed", "order.failed")
    of = {r: [e for e, subject, _ in events if subject == r and e in moves] for r in (ref, declined)}
    assert of[ref] == ["order.started", "order.approved", "order.completed"], of[ref]
    assert of[declined] == ["order.started", "order.failed"], of[declined]


def test_a_replayed_request_is_in_the_audit_log(
    daemon: Daemon, kiosk: httpx.Client, customer: tuple[str, PhoneClient]
) -> None:
    number, phone = customer
    ref = start(kiosk, number)["orderRef"]
    req = request_for(phone, ref)
    path, body, headers = signed_approval(phone, ref, req.challenge)
    assert send(phone, path, body, headers).status_code == 200
    assert send(phone, path, body, headers).status_code == 401
    assert [e for e in audit_events(daemon) if e[0] == "device.replay" and e[1] == phone.device_id]


# -- daemons of their own: a short order lifetime, a restart ---------------------------------------------


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon whose orders live 2 s."""
    d = make_daemon(tmp_path_factory.mktemp("ttl") / "home", TILLIT_ORDER_TTL_SECONDS="2")
    d.start()
    yield d
    d.stop()
    audit_ok(d)


def test_an_expired_order_fails_and_a_late_approval_changes_nothing(short_lived: Daemon) -> None:
    d = short_lived
    number, phone = _enrolled(d)
    try:
        with d.kiosk() as k:
            started = start(k, number)
            ref = started["orderRef"]
            assert started["expiresAt"] <= time.time() + 3
            req = request_for(phone, ref)
            time.sleep(2.5)
            assert phone.requests().requests == []  # no longer offered
            assert collect(k, ref) == {"orderRef": ref, "status": "failed", "hintCode": "expiredTransaction"}
            entries = audit_ok(d)
            r = send(phone, *signed_approval(phone, ref, req.challenge))
            assert r.status_code == 410, r.text
            assert set(r.json()) == {"error", "reason"}
            assert collect(k, ref) == {"orderRef": ref, "status": "failed", "hintCode": "expiredTransaction"}
            assert password(k, ref, PASSWORD).json()["hintCode"] == "expiredTransaction"
            assert k.post("/v1/cancel", json={"orderRef": ref}).json()["hintCode"] == "expiredTransaction"
            assert audit_ok(d) == entries
    finally:
        phone.close()


def test_a_late_approval_without_a_collect_gets_410(short_lived: Daemon) -> None:
    d = short_lived
    number, phone = _enrolled(d)
    try:
        with d.kiosk() as k:
            ref = start(k, number)["orderRef"]
            req = request_for(phone, ref)
            time.sleep(2.5)
            r = send(phone, *signed_approval(phone, ref, req.challenge))
            assert r.status_code == 410, r.text
            assert collect(k, ref) == {"orderRef": ref, "status": "failed", "hintCode": "expiredTransaction"}
    finally:
        phone.close()


def test_a_password_after_expiry_fails_and_counts_nothing(short_lived: Daemon) -> None:
    d = short_lived
    number, phone = _enrolled(d)
    try:
        with d.kiosk() as k:
            ref = start(k, number)["orderRef"]
            approve(phone, ref)
            time.sleep(2.5)
            r = password(k, ref, WRONG)
            assert r.status_code == 200, r.text
            assert r.json() == {"orderRef": ref, "status": "failed", "hintCode": "expiredTransaction"}
            assert password(k, ref, PASSWORD).json()["status"] == "failed"
        assert failures(d, number) == 0
    finally:
        phone.close()


def test_a_password_check_that_runs_past_the_expiry_never_completes(tmp_path: Path) -> None:
    """A right password sent inside the order's lifetime whose check ends after it (Argon2id made
    slow, about 2 s, for an order of 2 s): the order fails as expired, never completes late, and the
    right password counts as no failure."""
    d = make_daemon(tmp_path / "home", TILLIT_ORDER_TTL_SECONDS="2", TILLIT_ARGON2_TIME_COST="400")
    number = fresh_adult()
    d.enrol(number)  # hashed with the slow cost too: the check takes as long
    phone = d.add_device(number)
    d.start()
    try:
        with d.kiosk() as k:
            started = start(k, number)
            approve(phone, started["orderRef"])
            sent = time.time()
            answer = password(k, started["orderRef"], PASSWORD)
            answered = time.time()
            assert sent < started["expiresAt"] < answered, "the check did not run past the order's expiry"
            assert answer.status_code == 200, answer.text
            assert (answer.json()["status"], answer.json()["hintCode"]) == ("failed", "expiredTransaction")
        assert failures(d, number) == 0
    finally:
        phone.close()
        d.stop()


def test_an_expired_order_nobody_collected_does_not_block_the_next_login(short_lived: Daemon) -> None:
    d = short_lived
    number, phone = _enrolled(d)
    try:
        with d.kiosk() as k:
            abandoned = start(k, number)["orderRef"]
            time.sleep(2.5)  # the customer walked away; the kiosk stopped collecting
            ref = start(k, number)["orderRef"]
            assert collect(k, abandoned)["hintCode"] == "expiredTransaction"
            assert collect(k, ref) == {"orderRef": ref, "status": "pending", "hintCode": "outstandingTransaction"}
    finally:
        phone.close()


def test_the_failure_count_survives_a_restart(tmp_path: Path) -> None:
    d = make_daemon(tmp_path / "home")
    number = fresh_adult()
    d.enrol(number)
    phone = d.add_device(number)
    d.start()
    try:
        with d.kiosk() as k:
            ref = start(k, number)["orderRef"]
            approve(phone, ref)
            for left in (4, 3, 2):
                assert password(k, ref, WRONG).json()["attemptsLeft"] == left
        d.stop()
        assert show(d, number)["failedPasswords"] == 3
        d.start()
        with d.kiosk() as k:
            assert collect(k, ref) == {
                "orderRef": ref,
                "status": "pending",
                "hintCode": "wrongPassword",
                "attemptsLeft": 2,
            }
            assert password(k, ref, WRONG).json()["attemptsLeft"] == 1
            assert password(k, ref, WRONG).json() == {
                "orderRef": ref,
                "status": "failed",
                "hintCode": "passwordLocked",
                "attemptsLeft": 0,
            }
            locked = start(k, number)["orderRef"]
            assert collect(k, locked)["hintCode"] == "passwordLocked"
        info = show(d, number)
        assert info["failedPasswords"] == 5 and info["passwordLocked"] is True
    finally:
        phone.close()
        d.stop()
    audit_ok(d)

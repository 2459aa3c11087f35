"""Two real signer daemons on two ports over one PostgreSQL database and one SoftHSM token.

The token directory stands in for a network HSM (SoftHSM serialises its processes with file locks);
both daemons share one TILLIT_HOME (tests/proofs/test_two_machines.py gives each its own). Any
instance takes any request of any order: started on A, approved by a phone long-polling B, the
password posted to B, collected on A; wrong passwords spread over both lock after exactly five; one
approval signs once; the rate window of a number is one budget over both.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.daemon import PASSWORD, Daemon, free_port, make_daemon
from tests.factories import fresh_adult
from tests.store.conftest import audit_count, pg_query
from tillit.phone.client import PhoneClient
from tillit.signer.audit.chain import verify_chain
from tillit.signer.store.records import AuditEntry
from tillit.signer.wire import AppRequest

pytestmark = [pytest.mark.integration, pytest.mark.hsm, pytest.mark.postgresql]

WRONG = "Fjord-Hest-2025"
WAIT = 30.0  # the long-poll's own timeout: a wake-up must come long before it


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, pg_database: str) -> Iterator[tuple[Daemon, Daemon]]:
    home = tmp_path_factory.mktemp("two-instances") / "home"
    a = make_daemon(home, TILLIT_DATABASE_URL=pg_database)
    b = Daemon(home=home, port=free_port(), env={**a.env}, kiosk_token=a.kiosk_token)
    b.env["TILLIT_PORT"] = str(b.port)
    # Behind one load balancer both instances have one public URL: the one the CA was made with.
    b.env["TILLIT_PUBLIC_URL"] = f"http://127.0.0.1:{a.port}"
    b.log = home / "daemon-b.log"
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        b.stop()
        a.stop()


@pytest.fixture
def customer(pair: tuple[Daemon, Daemon]) -> Iterator[tuple[str, PhoneClient, PhoneClient]]:
    """A customer enrolled through the CLI, and their one device as a phone talking to A and to B."""
    a, b = pair
    number = fresh_adult()
    a.enrol(number)
    on_a = a.add_device(number)
    on_b = PhoneClient(b.url, on_a.device_id, on_a.key)
    yield number, on_a, on_b
    on_a.close()
    on_b.close()


def customer_row(d: Daemon, number: str) -> dict[str, Any]:
    return dict(json.loads(d.run("tillit-signer", "customers", "show", number, "--json").stdout))


def start(d: Daemon, number: str) -> str:
    with d.kiosk() as k:
        r = k.post("/v1/auth", json={"personalNumber": number})
    assert r.status_code == 200, r.text
    return str(r.json()["orderRef"])


def post(d: Daemon, path: str, payload: dict[str, Any]) -> httpx.Response:
    with d.kiosk() as k:
        return k.post(path, json=payload)


def request_for(phone: PhoneClient, ref: str) -> AppRequest:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [r for r in phone.requests(wait=5).requests if r.order_ref == ref]
        if found:
            return found[0]
    raise AssertionError(f"the phone never saw {ref}")


def test_started_on_a_approved_through_b_password_on_b_collected_on_a(
    pair: tuple[Daemon, Daemon], customer: tuple[str, PhoneClient, PhoneClient], pg_database: str
) -> None:
    a, b = pair
    number, _, phone_b = customer
    polled: dict[str, Any] = {}

    def long_poll() -> None:
        polled["requests"] = phone_b.requests(wait=WAIT).requests
        polled["at"] = time.monotonic()

    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(0.5)  # let the long-poll reach B and park (nothing is pending yet)
    assert poller.is_alive(), "the long-poll returned before any order existed"
    started = time.monotonic()
    ref = start(a, number)
    poller.join(WAIT + 15)
    woke_after = polled["at"] - started
    assert [r.order_ref for r in polled["requests"]] == [ref]
    assert woke_after < 2.0, f"B's long-poll woke {woke_after:.3f} s after the order started on A"

    assert phone_b.decide(polled["requests"][0], "approve")
    answer = post(b, "/v1/password", {"orderRef": ref, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "complete"
    collected = post(a, "/v1/collect", {"orderRef": ref})
    assert collected.status_code == 200
    body = collected.json()
    assert body["status"] == "complete" and body["completionData"]["customer"]["personalNumber"] == number
    assert audit_count(pg_database, "order.completed", ref) == 1


def test_wrong_passwords_on_orders_through_alternating_instances_lock_after_five(
    pair: tuple[Daemon, Daemon], customer: tuple[str, PhoneClient, PhoneClient], pg_database: str
) -> None:
    a, b = pair
    number, phone_a, phone_b = customer
    previous: str | None = None
    for attempt in range(1, 6):
        first, second = (a, b) if attempt % 2 else (b, a)
        if previous:  # one open order per customer: end the last one (on the other instance)
            assert post(second, "/v1/cancel", {"orderRef": previous}).status_code == 200
        ref = start(first, number)
        phone = phone_b if first is a else phone_a  # approved through the other instance
        phone.decide(request_for(phone, ref), "approve")
        r = post(second, "/v1/password", {"orderRef": ref, "password": WRONG})
        assert r.status_code == 200, r.text
        body = r.json()
        if attempt < 5:
            assert (body["status"], body["hintCode"], body["attemptsLeft"]) == ("pending", "wrongPassword", 5 - attempt)
        else:
            assert (body["status"], body["hintCode"]) == ("failed", "passwordLocked")
        previous = ref
    shown = customer_row(a, number)
    assert shown["failedPasswords"] == 5 and shown["passwordLocked"] is True
    ref = start(b, number)  # locked everywhere: a new order fails at once, even with the right password
    assert post(a, "/v1/collect", {"orderRef": ref}).json()["hintCode"] == "passwordLocked"
    customer_id = shown["id"]
    assert audit_count(pg_database, "password.wrong", customer_id) == 5
    assert audit_count(pg_database, "customer.password_locked", customer_id) == 1


def test_a_burst_of_wrong_passwords_over_both_instances_is_counted_exactly(
    pair: tuple[Daemon, Daemon], customer: tuple[str, PhoneClient, PhoneClient], pg_database: str
) -> None:
    a, b = pair
    number, _, phone_b = customer
    ref = start(a, number)
    phone_b.decide(request_for(phone_b, ref), "approve")
    counted: list[int] = []  # attemptsLeft of every answer that counted a failure
    statuses: list[int] = []
    with a.kiosk() as ka, b.kiosk() as kb:

        def wrong(i: int) -> httpx.Response:
            return (ka if i % 2 else kb).post("/v1/password", json={"orderRef": ref, "password": WRONG})

        for _burst in range(15):
            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(wrong, range(8)))
            for r in answers:
                statuses.append(r.status_code)
                if r.status_code != 200:
                    continue
                body = r.json()
                if body["hintCode"] == "wrongPassword" or (
                    body["hintCode"] == "passwordLocked" and body.get("attemptsLeft") == 0
                ):
                    counted.append(body["attemptsLeft"])
            if ka.post("/v1/collect", json={"orderRef": ref}).json()["status"] == "failed":
                break
    assert set(statuses) <= {200, 409}, statuses  # 409: a check for this order was running elsewhere
    assert sorted(counted, reverse=True) == [4, 3, 2, 1, 0]
    shown = customer_row(b, number)
    assert shown["failedPasswords"] == 5 and shown["passwordLocked"] is True
    assert audit_count(pg_database, "password.wrong", shown["id"]) == 5


def test_one_approval_signs_once_under_correct_passwords_on_both_instances(
    pair: tuple[Daemon, Daemon], customer: tuple[str, PhoneClient, PhoneClient], pg_database: str
) -> None:
    """The customer's key was made (by the CLI) after both daemons started: both find it on the token."""
    a, b = pair
    number, phone_a, _ = customer
    documents = [("a.txt", "text/plain", b"one"), ("b.txt", "text/plain", b"two")]
    r = post(
        b,
        "/v1/sign",
        {
            "personalNumber": number,
            "userVisibleData": "Eg signerer lånavtalen",
            "documents": [
                {"name": n, "contentType": t, "content": base64.b64encode(c).decode()} for n, t, c in documents
            ],
        },
    )
    assert r.status_code == 200, r.text
    ref = r.json()["orderRef"]
    phone_a.decide(request_for(phone_a, ref), "approve")
    with a.kiosk() as ka, b.kiosk() as kb:

        def right(i: int) -> int:
            return (ka if i % 2 else kb).post("/v1/password", json={"orderRef": ref, "password": PASSWORD}).status_code

        with ThreadPoolExecutor(10) as pool:
            statuses = list(pool.map(right, range(10)))
        assert set(statuses) <= {200, 409}, statuses
        assert ka.post("/v1/collect", json={"orderRef": ref}).json()["status"] == "complete"
        for k in (ka, kb):  # either instance hands out the signed documents
            for index in range(len(documents)):
                assert k.get(f"/v1/orders/{ref}/documents/{index}").status_code == 200
    assert audit_count(pg_database, "signature.created", ref) == len(documents)
    assert audit_count(pg_database, "order.completed", ref) == 1


def test_an_administrators_block_wakes_the_phone_polling_b(
    pair: tuple[Daemon, Daemon], customer: tuple[str, PhoneClient, PhoneClient]
) -> None:
    a, _ = pair
    number, _, phone_b = customer
    polled: dict[str, Any] = {}

    def long_poll() -> None:
        polled["answer"] = phone_b.requests(wait=WAIT)
        polled["at"] = time.monotonic()

    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(0.5)
    assert poller.is_alive()
    a.run("tillit-signer", "customers", "block", number, "--reason", "lost-phone")  # a third process
    done = time.monotonic()
    poller.join(WAIT + 15)
    assert polled["answer"].device_status == "deactivated"
    assert polled["at"] - done < 2.0, "the block did not wake B's long-poll"


def test_the_shared_audit_log_verifies(pair: tuple[Daemon, Daemon], pg_database: str) -> None:
    a, _ = pair
    rows = pg_query(pg_database, "SELECT seq, at, event, subject, data, prev_hash, hash FROM audit ORDER BY seq")
    entries = [AuditEntry(*row) for row in rows]
    report = verify_chain(entries)
    assert report.ok, report.reason
    assert len(entries) > 50
    result = a.run("tillit-signer", "audit", "verify", check=False)
    assert result.returncode == 0, result.stderr


def test_the_rate_window_of_a_number_is_one_budget_over_both_instances(pair: tuple[Daemon, Daemon]) -> None:
    """Ten starts a minute per personal number (the default), counted in the database: alternating
    instances gives no more, the eleventh is refused on either (issue 24; each used to count its own)."""
    a, b = pair
    number = fresh_adult()  # nobody's: a start counts whether or not the number is a customer's
    for i in range(10):
        r = post(a if i % 2 else b, "/v1/auth", {"personalNumber": number})
        assert r.status_code == 200, (i, r.text)
    for d in (a, b):
        refused = post(d, "/v1/auth", {"personalNumber": number})
        assert refused.status_code == 429 and refused.json()["error"] == "rateLimited", refused.text

"""The insider: write access to the daemon's database, none to the HSM (signer/seals.py).

An outside probe did this against a running daemon: it put its own device key on a customer's
device row and its own password hash on the customer's row, then approved and typed its own
password, and the daemon signed an agreement with the customer's key and certificate. Each proof
here makes one such edit with sqlite3 while the daemon runs, tries to sign in the customer's name
through the real API, and asserts that nothing is signed; then it puts the row back and shows the
rightful customer still can.
"""

from __future__ import annotations

import base64
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest

from tests.daemon import PASSWORD, Daemon, make_daemon
from tests.proofs.common import enrol_many, figures, query, request_for
from tillit.phone.client import PhoneClient, sign_bytes
from tillit.signer.store.audit import audit_hash
from tillit.signer.wire import approval_message

pytestmark = pytest.mark.integration

INSIDER_PASSWORD = "Innside-Mann-2024"  # the password of the insider's own customer


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    # Short leases, so that an order left in 'signing' is taken over within seconds (signer/leases.py),
    # and audit checkpoints by time every second (the default is a minute).
    daemon = make_daemon(
        tmp_path_factory.mktemp("insider") / "home", TILLIT_LEASE_SECONDS="5", TILLIT_AUDIT_CHECKPOINT_SECONDS="1"
    )
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def kari(d: Daemon) -> Iterator[tuple[str, PhoneClient]]:
    (made,) = enrol_many(d, 1)
    yield made
    made[1].close()


@pytest.fixture(scope="module")
def insider(d: Daemon) -> Iterator[tuple[str, PhoneClient]]:
    """A customer the insider controls: its phone's key and its password are the insider's."""
    (made,) = enrol_many(d, 1, password=INSIDER_PASSWORD)
    yield made
    made[1].close()


def write(d: Daemon, sql: str, params: tuple[Any, ...]) -> None:
    """The insider's edit, committed while the daemon runs."""
    with closing(sqlite3.connect(d.home / "signer.db", timeout=30)) as db, db:
        assert db.execute(sql, params).rowcount == 1


def customer_row(d: Daemon, number: str) -> tuple[str, str, str]:
    """(id, password hash, key label)"""
    row = query(d, "SELECT id, password_hash, key_label FROM customers WHERE personal_number=?", (number,))[0]
    return str(row[0]), str(row[1]), str(row[2])


def device_key(d: Daemon, device_id: str) -> bytes:
    return bytes(query(d, "SELECT public_key FROM devices WHERE id=?", (device_id,))[0][0])


def start_signing(k: httpx.Client, number: str) -> str:
    content = base64.b64encode(b"Kari skylder innsidaren 1 000 000 kr\n").decode()
    document = {"name": "gjeld.txt", "contentType": "text/plain", "content": content}
    r = k.post("/v1/sign", json={"personalNumber": number, "userVisibleData": "Gjeldsbrev", "documents": [document]})
    assert r.status_code == 200, r.text
    return str(r.json()["orderRef"])


def approve(phone: PhoneClient, ref: str, challenge: dict[str, Any]) -> httpx.Response:
    return phone.request(
        "POST",
        f"/v1/app/requests/{ref}",
        {"decision": "approve", "signature": sign_bytes(phone.key, approval_message(challenge, "approve"))},
    )


def signatures(d: Daemon, ref: str) -> int:
    return int(query(d, "SELECT COUNT(*) FROM audit WHERE event='signature.created' AND subject=?", (ref,))[0][0])


def order_status(d: Daemon, ref: str) -> str:
    return str(query(d, "SELECT status FROM orders WHERE ref=?", (ref,))[0][0])


def test_a_device_key_put_in_the_database_approves_nothing(
    d: Daemon, kari: tuple[str, PhoneClient], insider: tuple[str, PhoneClient]
) -> None:
    number, phone = kari
    _, own = insider
    real_key = device_key(d, phone.device_id)
    write(d, "UPDATE devices SET public_key=? WHERE id=?", (device_key(d, own.device_id), phone.device_id))
    forged = PhoneClient(d.url, phone.device_id, own.key)  # Kari's device id, the insider's key
    try:
        with d.kiosk() as k:
            ref = start_signing(k, number)
            # Every request signed with the planted key is refused: the poll and the approval.
            polled = forged.request("GET", "/v1/app/requests?wait=0")
            challenge = {"orderRef": ref}  # what the insider would sign; any challenge gets the same answer
            approved = approve(forged, ref, challenge)
            assert (polled.status_code, approved.status_code) == (401, 401), (polled.text, approved.text)
            assert order_status(d, ref) == "pending"
            refused = k.post("/v1/password", json={"orderRef": ref, "password": INSIDER_PASSWORD})
            assert refused.status_code == 409 and refused.json()["error"] == "notApproved", refused.text
            write(d, "UPDATE devices SET public_key=? WHERE id=?", (real_key, phone.device_id))
            # Put back, the rightful phone approves and Kari's password signs.
            assert approve(phone, ref, request_for(phone, ref).challenge).status_code == 200
            done = k.post("/v1/password", json={"orderRef": ref, "password": PASSWORD})
            assert done.status_code == 200 and done.json()["status"] == "complete", done.text
        assert signatures(d, ref) == 1
    finally:
        forged.close()
    figures("insider", planted_device_key_requests_refused=2)


def test_a_password_hash_put_in_the_database_is_no_password(
    d: Daemon, kari: tuple[str, PhoneClient], insider: tuple[str, PhoneClient]
) -> None:
    """Kari approves a signing at the kiosk; the insider, who swapped in the hash of a password of
    their own, types it. It is a wrong password (counted), and so is Kari's own until the row is
    put back: the daemon takes no password against a hash it did not seal."""
    number, phone = kari
    customer_id, real_hash, _ = customer_row(d, number)
    _, insider_hash, _ = customer_row(d, insider[0])
    with d.kiosk() as k:
        ref = start_signing(k, number)
        assert approve(phone, ref, request_for(phone, ref).challenge).status_code == 200
        write(d, "UPDATE customers SET password_hash=? WHERE id=?", (insider_hash, customer_id))
        answers = [k.post("/v1/password", json={"orderRef": ref, "password": p}) for p in (INSIDER_PASSWORD, PASSWORD)]
        assert [r.json().get("hintCode") for r in answers] == ["wrongPassword", "wrongPassword"], [
            a.text for a in answers
        ]
        assert order_status(d, ref) == "approved" and signatures(d, ref) == 0
        write(d, "UPDATE customers SET password_hash=? WHERE id=?", (real_hash, customer_id))
        done = k.post("/v1/password", json={"orderRef": ref, "password": PASSWORD})
        assert done.status_code == 200 and done.json()["status"] == "complete", done.text
    assert signatures(d, ref) == 1
    figures("insider", planted_password_hash_guesses_refused=2)


def test_an_order_moved_to_signing_in_the_database_is_not_signed(d: Daemon, kari: tuple[str, PhoneClient]) -> None:
    """Kari approves on her phone but never types her password; the insider moves the order to
    'signing' under a lease that has run out, for another instance to take over and sign. The
    instance that takes it over finds no grant sealed by a password check, and fails it."""
    number, phone = kari
    with d.kiosk() as k:
        ref = start_signing(k, number)
        assert approve(phone, ref, request_for(phone, ref).challenge).status_code == 200
        write(
            d,
            "UPDATE orders SET status='signing', runner='machine-b', lease_until=0 WHERE ref=? AND status='approved'",
            (ref,),
        )
        deadline = time.monotonic() + 30
        while order_status(d, ref) == "signing" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert order_status(d, ref) == "failed"
        assert signatures(d, ref) == 0
    figures("insider", orders_moved_to_signing_refused=1)


def test_another_customers_key_label_signs_nothing(
    d: Daemon, kari: tuple[str, PhoneClient], insider: tuple[str, PhoneClient]
) -> None:
    """The insider points their own customer at Kari's key, then signs with their own phone and
    password: the daemon refuses a key whose label is not the customer's own."""
    kari_number, _ = kari
    number, phone = insider
    customer_id, _, own_label = customer_row(d, number)
    _, _, kari_label = customer_row(d, kari_number)
    write(d, "UPDATE customers SET key_label=? WHERE id=?", (kari_label, customer_id))
    try:
        with d.kiosk() as k:
            ref = start_signing(k, number)
            assert approve(phone, ref, request_for(phone, ref).challenge).status_code == 200
            answer = k.post("/v1/password", json={"orderRef": ref, "password": INSIDER_PASSWORD})
            assert answer.status_code == 200 and answer.json()["status"] == "failed", answer.text
        assert signatures(d, ref) == 0
    finally:
        write(d, "UPDATE customers SET key_label=? WHERE id=?", (own_label, customer_id))
    figures("insider", borrowed_key_labels_refused=1)


def test_the_newest_audit_entries_are_covered_within_the_checkpoint_interval(
    d: Daemon, kari: tuple[str, PhoneClient]
) -> None:
    """Entries after the newest checkpoint are covered by nothing the HSM signed, and the chain's
    hashes are plain SHA-256: the insider can rewrite them, and the next checkpoint would sign the
    rewrite. An outside probe did, on a branch quiet enough never to reach the next hundred entries.
    Now the daemon signs one within `audit_checkpoint_seconds` of an entry (1 s here), after which
    the same rewrite is found by `audit verify`, and the daemon refuses to sign over it."""
    number, _ = kari
    with d.kiosk() as k:
        ref = k.post("/v1/auth", json={"personalNumber": number}).json()["orderRef"]
        assert k.post("/v1/cancel", json={"orderRef": ref}).status_code == 200
    head = int(query(d, "SELECT MAX(seq) FROM audit")[0][0])
    deadline = time.monotonic() + 10
    while int(query(d, "SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoints")[0][0]) < head:
        assert time.monotonic() < deadline, "no checkpoint covered the newest entries"
        time.sleep(0.2)
    # The insider rewrites the newest entry (the cancel) as if it had never happened, hash and all.
    seq, at, subject, prev = query(d, "SELECT seq, at, subject, prev_hash FROM audit WHERE seq=?", (head,))[0]
    data = '{"hint":"expiredTransaction"}'
    forged = audit_hash(prev, seq, at, "order.failed", subject, data)
    write(d, "UPDATE audit SET event='order.failed', data=?, hash=? WHERE seq=?", (data, forged, head))
    result = d.run("tillit-signer", "audit", "verify", check=False)
    assert result.returncode != 0 and f"entry {head}" in result.stderr + result.stdout, result
    figures("insider", audit_tail_covered_within_s=1)

"""The outside review's attacks on guesses, sessions, blocking, storage and files, against the real daemon.

Each test performs one finding of the review as the attacker did (the public API and the phone
protocol only, a stranger who knows a number, a SIM swap, a kiosk token) and checks the defence:

- H1: concurrent app-activation completions race the five-failure password lock;
- the same race mixed with the kiosk's password, and a wrong password sent while the order is
  cancelled under it (it must still count);
- M1: control answers counted per reset order instead of per customer;
- M2/M3: a stranger suspends a code device with five wrong codes, and the activation endpoint tells
  customers without a code device from unknown numbers;
- L1: activation messages and pushes without any login (caps, and the old phone's text);
- L2: other scripts' digits in codes (500);
- L4: `/v1/password` completes a password-reset order with a login token;
- L5: one kiosk token blocks customer after customer;
- L6: a guardian's pending approval is stranded when the guardian activates a new phone;
- L7: TILLIT_HOME and signer.db readable by all under umask 022;
- L8: the session token accepted without the kiosk's token, or at another kiosk;
- M8: documents of orders that never get signed are kept for ever, and a kiosk fills the disk.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.daemon import PASSWORD, Daemon, make_daemon, tool
from tests.factories import fresh_adult, synthetic_number, years_ago
from tests.proofs.common import audit_verify, figures, query
from tillit.hsm.otp import CodeDeviceFile
from tillit.phone.client import PhoneClient, sign_bytes
from tillit.signer.wire import activation_proof_message

pytestmark = pytest.mark.integration

WRONG = "Feil-Passord-9"
ANSWERS = ["Pusur", "Storgata", "Marie"]


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = make_daemon(
        tmp_path_factory.mktemp("guesses") / "home",
        TILLIT_RATE_ORDERS_PER_NUMBER="1000",
        TILLIT_KIOSK_STORAGE_BYTES=str(400_000),
        TILLIT_DOCUMENT_RETENTION_DAYS=str(2 / 86400),  # two seconds
        TILLIT_MAINTENANCE_INTERVAL_SECONDS="0.5",
        TILLIT_ACTIVATIONS_PER_HOUR="40",
    )
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture
def kiosk(d: Daemon) -> Iterator[httpx.Client]:
    with d.kiosk() as client:
        yield client


def new_kiosk(d: Daemon, name: str) -> httpx.Client:
    token = d.run("tillit-signer", "kiosks", "add", "--name", name).stdout.strip()
    return httpx.Client(base_url=d.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def show(d: Daemon, number: str) -> dict[str, Any]:
    return dict(json.loads(d.run("tillit-signer", "customers", "show", number, "--json").stdout))


def count_events(d: Daemon, event: str, subject: str) -> int:
    return int(query(d, "SELECT COUNT(*) FROM audit WHERE event=? AND subject=?", (event, subject))[0][0])


def new_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, pem.decode()


def start_activation(
    d: Daemon, number: str, method: str, device_name: str = "Angriperens telefon"
) -> tuple[ec.EllipticCurvePrivateKey, dict[str, Any]]:
    key, pem = new_key()
    body = {"personalNumber": number, "method": method, "deviceName": device_name, "publicKey": pem}
    r = httpx.post(d.url + "/v1/app/activations", json=body, timeout=30)
    assert r.status_code == 201, r.text
    return key, r.json()


def outbox_codes(d: Daemon, mobile_or_email: str) -> list[str]:
    messages = json.loads(d.run("tillit-signer", "outbox", "list", "--json").stdout)
    return [m["body"].split()[-1] for m in messages if m["recipient"] == mobile_or_email]


def complete_activation(
    d: Daemon, key: ec.EllipticCurvePrivateKey, activation_id: str, password: str, **codes: str
) -> httpx.Response:
    proof = sign_bytes(key, activation_proof_message(activation_id))
    return httpx.post(
        f"{d.url}/v1/app/activations/{activation_id}/complete",
        json={"proof": proof, "password": password, **codes},
        timeout=60,
    )


def devices_with_key(d: Daemon, key: ec.EllipticCurvePrivateKey) -> int:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return int(query(d, "SELECT COUNT(*) FROM devices WHERE public_key=?", (der,))[0][0])


def enrol_with_mail(d: Daemon, number: str, mobile: str, email: str, *extra: str, stdin_extra: str = "") -> None:
    d.run(
        "tillit-signer", "customers", "add", "--personal-number", number, "--name", "Kari Nordmann",
        "--mobile", mobile, "--email", email, "--password-stdin", *extra, stdin=PASSWORD + "\n" + stdin_extra,
    )  # fmt: skip


def race(calls: list[Any]) -> list[Any]:
    """Run the calls at once (a barrier, then all together) and return their results in order."""
    results: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


# -- H1: the password lock cannot be raced -------------------------------------------------------------


def test_concurrent_activation_completions_check_at_most_five_wrong_passwords(d: Daemon) -> None:
    """A SIM-swapper with the SMS and e-mail codes but not the password sends 12 completions at once,
    then the right password: at most 5 wrong ones are ever checked, the lock holds, nothing is bound."""
    number = fresh_adult()
    enrol_with_mail(d, number, "+4790000001", f"h1-{number}@example.no")
    customer_id = str(show(d, number)["id"])
    key, started = start_activation(d, number, "sms-email")
    sms = outbox_codes(d, "+4790000001")[-1]
    email = outbox_codes(d, f"h1-{number}@example.no")[-1]
    codes = {"smsCode": sms, "emailCode": email}
    answers = race([lambda: complete_activation(d, key, started["activationId"], WRONG, **codes)] * 12)
    statuses = sorted(r.status_code for r in answers)
    assert 500 not in statuses, statuses
    checked = count_events(d, "password.wrong", customer_id)
    figures("guesses", activation_race_sent=12, activation_race_checked=checked, activation_race_statuses=statuses)
    assert checked <= 5, "more wrong passwords were checked than the lock allows"
    assert show(d, number)["passwordLocked"] is True
    right = complete_activation(d, key, started["activationId"], PASSWORD, **codes)
    assert right.status_code in (403, 410), right.text
    assert devices_with_key(d, key) == 0, "a right password after the lock bound the attacker's device"
    after = show(d, number)
    assert after["passwordLocked"] is True and after["failedPasswords"] >= 5, "a success cleared the lock"
    d.run("tillit-signer", "customers", "unlock", number)


def test_kiosk_and_activation_guesses_share_one_count(d: Daemon, kiosk: httpx.Client) -> None:
    """Wrong passwords at the kiosk and in activations at the same time: one count, one lock."""
    number = fresh_adult()
    enrol_with_mail(d, number, "+4790000002", f"mix-{number}@example.no")
    customer_id = str(show(d, number)["id"])
    phone = d.add_device(number)
    try:
        order = kiosk.post("/v1/auth", json={"personalNumber": number}).json()
        phone.decide(phone.requests(wait=5).requests[0], "approve")
        key, started = start_activation(d, number, "sms-email")
        codes = {
            "smsCode": outbox_codes(d, "+4790000002")[-1],
            "emailCode": outbox_codes(d, f"mix-{number}@example.no")[-1],
        }
        calls: list[Any] = [lambda: complete_activation(d, key, started["activationId"], WRONG, **codes)] * 8
        calls.append(lambda: kiosk.post("/v1/password", json={"orderRef": order["orderRef"], "password": WRONG}))
        race(calls)
        checked = count_events(d, "password.wrong", customer_id)
        figures("guesses", mixed_race_sent=len(calls), mixed_race_checked=checked)
        assert checked <= 5
    finally:
        phone.close()
    d.run("tillit-signer", "customers", "unlock", number)


def test_a_wrong_password_counts_even_when_the_order_ends_meanwhile(tmp_path: Path) -> None:
    """Argon2id made slow (about a second), the customer blocked while it runs (the order fails under
    the check): the wrong password still counts."""
    daemon = make_daemon(tmp_path / "home", TILLIT_ARGON2_TIME_COST="200")
    daemon.start()
    try:
        number = fresh_adult()
        daemon.enrol(number)
        phone = daemon.add_device(number)
        with daemon.kiosk() as k:
            order = k.post("/v1/auth", json={"personalNumber": number}).json()
            phone.decide(phone.requests(wait=5).requests[0], "approve")
            ref = order["orderRef"]
            results = race(
                [
                    lambda: k.post("/v1/password", json={"orderRef": ref, "password": WRONG}),
                    lambda: (time.sleep(0.4), k.post("/v1/block", json={"personalNumber": number}))[1],
                ]
            )
            assert all(r.status_code < 500 for r in results), [r.text for r in results]
            assert k.post("/v1/collect", json={"orderRef": ref}).json()["hintCode"] == "blocked"
        phone.close()
        assert show(daemon, number)["failedPasswords"] == 1, "the wrong password was not counted"
    finally:
        daemon.stop()


# -- M1: control answers per customer -------------------------------------------------------------------


def reset_order(d: Daemon, kiosk: httpx.Client, phone: PhoneClient, number: str) -> str:
    started = kiosk.post("/v1/reset", json={"personalNumber": number}).json()
    request = phone.requests(wait=5).requests[0]
    phone.decide(request, "approve")
    return str(started["orderRef"])


def test_wrong_control_answers_are_counted_across_reset_orders(d: Daemon, kiosk: httpx.Client) -> None:
    number = fresh_adult()
    d.enrol(number, control_answers=ANSWERS)
    phone = d.add_device(number)
    outcomes = []
    try:
        for _ in range(3):  # two wrong sets per order, as the attacker did, over three orders
            ref = reset_order(d, kiosk, phone, number)
            for _ in range(2):
                body = {"orderRef": ref, "answers": ["x", "y", "z"], "newPassword": "Ny-Fjord-2026"}
                outcomes.append(kiosk.post("/v1/reset/complete", json=body))
            kiosk.post("/v1/cancel", json={"orderRef": ref})
        ref = reset_order(d, kiosk, phone, number)
        right = kiosk.post(
            "/v1/reset/complete", json={"orderRef": ref, "answers": ANSWERS, "newPassword": "Ny-Fjord-2026"}
        )
    finally:
        phone.close()
    assert all(r.status_code < 500 for r in outcomes)
    assert right.status_code in (403, 409) or right.json().get("status") == "failed", right.text
    assert show(d, number)["controlAnswersLocked"] is True
    assert right.json().get("hintCode", right.json().get("error")) == "answersLocked"


# -- M2, M3, L2: code devices -----------------------------------------------------------------------------


def code_device(d: Daemon, number: str, folder: Path) -> CodeDeviceFile:
    return d.issue_code_device(number, folder)


def test_a_stranger_cannot_take_the_code_device_away(d: Daemon, kiosk: httpx.Client, tmp_path: Path) -> None:
    """Five wrong codes on the public activation endpoint, then more: throttled (429), never suspended."""
    number = fresh_adult()
    d.enrol(number)
    device = code_device(d, number, tmp_path)
    wrong = f"{(int(device.code()) + 500_000) % 1_000_000:06d}"
    key, started = start_activation(d, number, "codedevice")
    answers = [complete_activation(d, key, started["activationId"], WRONG, code=wrong) for _ in range(5)]
    assert all(r.status_code in (400, 410) for r in answers), [r.text for r in answers]
    key2, again = start_activation(d, number, "codedevice")
    throttled = complete_activation(d, key2, again["activationId"], WRONG, code=wrong)
    assert throttled.status_code == 429 and throttled.headers.get("Retry-After"), throttled.text
    order = kiosk.post("/v1/auth", json={"personalNumber": number, "method": "codedevice"}).json()
    state = kiosk.post("/v1/collect", json={"orderRef": order["orderRef"]}).json()
    assert state["status"] == "pending", "the code device was taken away from its owner"
    kiosk.post("/v1/cancel", json={"orderRef": order["orderRef"]})
    status = query(d, "SELECT status FROM code_devices WHERE serial=?", (f"KB-{number}",))[0][0]
    assert status == "active"
    figures("guesses", code_guesses_before_throttle=5, code_throttle_retry_after=int(throttled.headers["Retry-After"]))


def test_activation_answers_alike_for_unknown_numbers_and_customers_without_a_code_device(d: Daemon) -> None:
    unknown = fresh_adult()
    without = fresh_adult()
    d.enrol(without)
    seen = []
    for number in (unknown, without):
        key, started = start_activation(d, number, "codedevice")
        r = complete_activation(d, key, started["activationId"], WRONG, code="123456")
        seen.append((r.status_code, r.json()["error"]))
    assert seen[0] == seen[1], seen


@pytest.mark.parametrize("code", ["١٢٣٤٥٦", "１２３４５６", "12345６"])
def test_codes_in_other_digits_are_refused_with_400(d: Daemon, kiosk: httpx.Client, tmp_path: Path, code: str) -> None:
    number = fresh_adult()
    d.enrol(number)
    code_device(d, number, tmp_path)
    order = kiosk.post("/v1/auth", json={"personalNumber": number, "method": "codedevice"}).json()
    r = kiosk.post("/v1/code", json={"orderRef": order["orderRef"], "code": code})
    assert r.status_code == 400, r.text
    key, started = start_activation(d, number, "codedevice")
    r = complete_activation(d, key, started["activationId"], WRONG, code=code)
    assert r.status_code == 400, r.text
    kiosk.post("/v1/cancel", json={"orderRef": order["orderRef"]})


# -- L1: messages and pushes without a login ----------------------------------------------------------------


def test_activation_starts_are_capped_per_number(d: Daemon) -> None:
    number = fresh_adult()
    enrol_with_mail(d, number, "+4790000003", f"l1-{number}@example.no")
    statuses = []
    for _ in range(5):
        _, pem = new_key()
        body = {"personalNumber": number, "method": "sms-email", "deviceName": "x", "publicKey": pem}
        statuses.append(httpx.post(d.url + "/v1/app/activations", json=body, timeout=30).status_code)
    assert statuses[:3] == [201, 201, 201] and statuses[3:] == [429, 429], statuses
    assert len(outbox_codes(d, "+4790000003")) == 3


def test_the_old_phone_never_shows_the_requesters_device_name(d: Daemon) -> None:
    number = fresh_adult()
    d.enrol(number)
    old = d.add_device(number)
    try:
        start_activation(d, number, "old-device", device_name="Banken: godkjenn for å få 5000 kr")
        request = old.requests(wait=5).requests[0]
        assert "5000" not in request.user_visible_data and "Banken" not in request.user_visible_data
    finally:
        old.close()


# -- L4, L5, L8: orders, blocks and sessions at the kiosk -----------------------------------------------------


def test_a_password_never_completes_a_reset_order(d: Daemon, kiosk: httpx.Client) -> None:
    number = fresh_adult()
    d.enrol(number, control_answers=ANSWERS)
    phone = d.add_device(number)
    try:
        ref = reset_order(d, kiosk, phone, number)
        r = kiosk.post("/v1/password", json={"orderRef": ref, "password": PASSWORD})
        assert r.status_code == 409, r.text
        state = kiosk.post("/v1/collect", json={"orderRef": ref}).json()
        assert "completionData" not in state
        kiosk.post("/v1/cancel", json={"orderRef": ref})
    finally:
        phone.close()


def test_a_kiosk_cannot_block_customer_after_customer(d: Daemon) -> None:
    with new_kiosk(d, "Blokkeringskiosk") as k:
        statuses = [k.post("/v1/block", json={"personalNumber": fresh_adult()}).status_code for _ in range(7)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429], statuses


def test_the_session_token_opens_nothing_without_its_own_kiosk(d: Daemon, kiosk: httpx.Client) -> None:
    number = fresh_adult()
    d.enrol(number)
    phone = d.add_device(number)
    try:
        order = kiosk.post("/v1/auth", json={"personalNumber": number}).json()
        phone.decide(phone.requests(wait=5).requests[0], "approve")
        done = kiosk.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD}).json()
    finally:
        phone.close()
    session = done["completionData"]["token"]
    alone = httpx.get(d.url + "/v1/agreements", headers={"Authorization": f"Bearer {session}"})
    assert alone.status_code == 401, alone.text
    with new_kiosk(d, "Annen kiosk") as other:
        elsewhere = other.get("/v1/agreements", headers={"X-Tillit-Session": session})
    assert elsewhere.status_code == 401, elsewhere.text
    here = kiosk.get("/v1/agreements", headers={"X-Tillit-Session": session})
    assert here.status_code == 200, here.text


# -- L6: a guardian's new phone ----------------------------------------------------------------------------


def test_a_guardians_pending_approval_follows_the_new_phone(d: Daemon) -> None:
    guardian = fresh_adult()
    d.enrol(guardian, "Anne Verje")
    old = d.add_device(guardian)
    minor = synthetic_number(years_ago(15, 3, 3), start=7_000)
    d.enrol(minor, "Ung Person", PASSWORD, "--guardian", guardian)
    new = d.add_device(guardian)  # the guardian activates a new phone before answering
    try:
        requests = new.requests(wait=5).requests
        assert [r.kind for r in requests] == ["guardian"], "the guardian approval did not follow the new phone"
        new.decide(requests[0], "approve")
        assert show(d, minor)["status"] == "active"
    finally:
        old.close()
        new.close()


# -- M8: what the store keeps ---------------------------------------------------------------------------------


def sign_body(number: str, size: int) -> dict[str, Any]:
    content = base64.b64encode(os.urandom(size)).decode()
    return {
        "personalNumber": number,
        "userVisibleData": "Avtale",
        "documents": [{"name": "vedlegg.bin", "contentType": "application/octet-stream", "content": content}],
    }


def stored_bytes(d: Daemon) -> int:
    return int(query(d, "SELECT COALESCE(SUM(LENGTH(content)), 0) FROM documents")[0][0])


def test_documents_of_orders_that_fail_at_once_are_not_kept(d: Daemon) -> None:
    with new_kiosk(d, "Diskfyllar") as k:
        before = stored_bytes(d)
        for _ in range(3):
            r = k.post("/v1/sign", json=sign_body(fresh_adult(), 100_000))
            assert r.status_code == 200
        assert stored_bytes(d) == before


def test_a_declined_orders_documents_are_deleted_and_a_kiosk_has_a_quota(d: Daemon) -> None:
    number = fresh_adult()
    d.enrol(number)
    phone = d.add_device(number)
    try:
        with new_kiosk(d, "Kvote") as k:
            order = k.post("/v1/sign", json=sign_body(number, 150_000)).json()
            assert int(query(d, "SELECT COUNT(*) FROM documents WHERE order_ref=?", (order["orderRef"],))[0][0]) == 1
            phone.decide(phone.requests(wait=5).requests[0], "decline")
            assert query(d, "SELECT COUNT(*) FROM documents WHERE order_ref=?", (order["orderRef"],))[0][0] == 0
            others = []
            for _ in range(3):  # open orders for other customers, each 150 KB: the third passes 400 KB
                other = fresh_adult()
                d.enrol(other)
                d.add_device(other).close()
                others.append(k.post("/v1/sign", json=sign_body(other, 150_000)))
            assert [r.status_code for r in others[:2]] == [200, 200]
            assert others[2].status_code == 413 and others[2].json()["error"] == "storageQuota", others[2].text
    finally:
        phone.close()


def test_signed_documents_go_after_retention_once_fetched(d: Daemon, kiosk: httpx.Client) -> None:
    number = fresh_adult()
    d.enrol(number)
    phone = d.add_device(number)
    try:
        order = kiosk.post("/v1/sign", json=sign_body(number, 1_000)).json()
        phone.decide(phone.requests(wait=5).requests[0], "approve")
        done = kiosk.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD}).json()
        assert done["status"] == "complete"
    finally:
        phone.close()
    path = f"/v1/orders/{order['orderRef']}/documents/0"
    assert kiosk.get(path).status_code == 200
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and kiosk.get(path).status_code == 200:
        time.sleep(0.5)
    gone = kiosk.get(path)
    assert gone.status_code == 410 and gone.json()["error"] == "documentDeleted", gone.text
    assert query(d, "SELECT COUNT(*) FROM documents WHERE order_ref=?", (order["orderRef"],))[0][0] == 0
    audit_verify(d)


# -- L7: files for this user alone ------------------------------------------------------------------------------


def test_the_home_and_the_database_are_private_whatever_the_umask(tmp_path: Path) -> None:
    home = tmp_path / "open-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILLIT_") and k != "SOFTHSM2_CONF"}
    env.update({"TILLIT_HOME": str(home), "TILLIT_ALLOW_TEST_NUMBERS": "1"})

    def run(*args: str, stdin: str | None = None) -> None:
        # umask 022, as the review had it: the tools must not rely on the caller's umask
        subprocess.run(
            ["sh", "-c", 'umask 022 && exec "$@"', "sh", tool(args[0]), *args[1:]],
            input=stdin, env=env, check=True, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    run("tillit-hsm", "init")
    run("tillit-hsm", "ca", "init")
    run(
        "tillit-signer", "customers", "add", "--personal-number", fresh_adult(), "--name", "Kari Nordmann",
        "--mobile", "+4791234567", "--email", "kari@example.no", "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    run("tillit-signer", "audit", "export", "--out", str(tmp_path / "export"))  # makes the audit key, under locks
    assert (home / "own-keys.lock").exists()
    loose = []
    for path in [home, *home.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            loose.append(f"{path.relative_to(tmp_path)} {mode:o}")
    assert not loose, loose

"""The BankID lifecycle on the real daemon: code devices, forgotten password, blocking, minors."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.daemon import PASSWORD, Daemon
from tests.factories import fresh_adult, synthetic_number, years_ago
from tillit.hsm.otp import STEP_SECONDS, CodeDeviceFile
from tillit.phone.client import PhoneClient

pytestmark = pytest.mark.integration

ANSWERS = "Pusur\nStorgata\nMarie\n"


@pytest.fixture
def kiosk(daemon: Daemon) -> Iterator[httpx.Client]:
    with daemon.kiosk() as client:
        yield client


def enrol_with_answers(daemon: Daemon, number: str, name: str = "Per Hansen") -> None:
    daemon.enrol(number, name, control_answers=ANSWERS.splitlines())


def code_device(daemon: Daemon, number: str, tmp_path: Path) -> CodeDeviceFile:
    return daemon.issue_code_device(number, tmp_path)


def show(daemon: Daemon, number: str) -> dict[str, object]:
    return dict(json.loads(daemon.run("tillit-signer", "customers", "show", number, "--json").stdout))


def fresh_code(device: CodeDeviceFile) -> str:
    """A code from a time step not used before (a code is accepted once)."""
    time.sleep(STEP_SECONDS - time.time() % STEP_SECONDS + 0.05)
    return device.code()


def audit_events(daemon: Daemon, subject: str) -> list[str]:
    with sqlite3.connect(daemon.home / "signer.db") as db:
        return [r[0] for r in db.execute("SELECT event FROM audit WHERE subject=? ORDER BY seq", (subject,))]


def test_code_device_login_and_replayed_code(daemon: Daemon, kiosk: httpx.Client, tmp_path: Path) -> None:
    number = fresh_adult()
    daemon.enrol(number)
    device = code_device(daemon, number, tmp_path)
    order = kiosk.post("/v1/auth", json={"personalNumber": number, "method": "codedevice"}).json()
    code = device.code()
    approved = kiosk.post("/v1/code", json={"orderRef": order["orderRef"], "code": code}).json()
    assert approved["hintCode"] == "userSign"
    done = kiosk.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD}).json()
    assert done["status"] == "complete"

    again = kiosk.post("/v1/auth", json={"personalNumber": number, "method": "codedevice"}).json()
    replay = kiosk.post("/v1/code", json={"orderRef": again["orderRef"], "code": code}).json()
    assert replay["hintCode"] == "wrongCode", "a code is accepted once"
    assert replay["status"] == "pending"
    kiosk.post("/v1/cancel", json={"orderRef": again["orderRef"]})
    daemon.run("tillit-signer", "audit", "verify")


def test_five_wrong_codes_throttle_the_code_device_without_suspending_it(
    daemon: Daemon, kiosk: httpx.Client, tmp_path: Path
) -> None:
    number = fresh_adult()
    daemon.enrol(number)
    device = code_device(daemon, number, tmp_path)
    order = kiosk.post("/v1/auth", json={"personalNumber": number, "method": "codedevice"}).json()
    wrong = f"{(int(device.code()) + 500_000) % 1_000_000:06d}"
    answers = [kiosk.post("/v1/code", json={"orderRef": order["orderRef"], "code": wrong}).json() for _ in range(5)]
    assert [a.get("attemptsLeft") for a in answers[:4]] == [4, 3, 2, 1]
    assert (answers[4]["status"], answers[4]["hintCode"]) == ("pending", "wrongCode")
    throttled = kiosk.post("/v1/code", json={"orderRef": order["orderRef"], "code": device.code()})
    assert throttled.status_code == 429 and throttled.json()["error"] == "codeThrottled"
    assert int(throttled.headers["Retry-After"]) > 1
    kiosk.post("/v1/cancel", json={"orderRef": order["orderRef"]})
    later = kiosk.post("/v1/auth", json={"personalNumber": number, "method": "codedevice"}).json()
    state = kiosk.post("/v1/collect", json={"orderRef": later["orderRef"]}).json()
    assert state["status"] == "pending", "the device is throttled, not suspended"
    kiosk.post("/v1/cancel", json={"orderRef": later["orderRef"]})


def test_password_reset_with_control_questions_from_locked(daemon: Daemon, kiosk: httpx.Client) -> None:
    number = fresh_adult()
    enrol_with_answers(daemon, number)
    phone = daemon.add_device(number)
    try:
        for _ in range(5):
            order = kiosk.post("/v1/auth", json={"personalNumber": number}).json()
            phone.decide(phone.requests(wait=5).requests[0], "approve")
            last = kiosk.post("/v1/password", json={"orderRef": order["orderRef"], "password": "Feil-Passord-1"}).json()
            if last["status"] == "failed":
                break
            kiosk.post("/v1/cancel", json={"orderRef": order["orderRef"]})
        assert last["hintCode"] == "passwordLocked"

        reset = kiosk.post("/v1/reset", json={"personalNumber": number}).json()
        assert kiosk.post("/v1/reset/questions", json={"orderRef": reset["orderRef"]}).status_code == 409
        request = phone.requests(wait=5).requests[0]
        assert request.kind == "reset"
        phone.decide(request, "approve")
        questions = kiosk.post("/v1/reset/questions", json={"orderRef": reset["orderRef"]}).json()["questions"]
        assert len(questions) == 3
        wrong = kiosk.post(
            "/v1/reset/complete",
            json={
                "orderRef": reset["orderRef"],
                "answers": ["Pusur", "Storgata", "Anne"],
                "newPassword": "Ny-Fjord-2026",
            },
        )
        assert wrong.status_code == 400 and wrong.json()["error"] == "wrongAnswers"
        weak = kiosk.post(
            "/v1/reset/complete",
            json={"orderRef": reset["orderRef"], "answers": ["pusur", "STORGATA ", "marie"], "newPassword": "password"},
        )
        assert weak.status_code == 400 and "common" in weak.json()["reason"]
        done = kiosk.post(
            "/v1/reset/complete",
            json={
                "orderRef": reset["orderRef"],
                "answers": ["pusur", "STORGATA ", "marie"],
                "newPassword": "Ny-Fjord-2026",
            },
        ).json()
        assert done["status"] == "complete"
        assert show(daemon, number)["passwordLocked"] is False

        login = kiosk.post("/v1/auth", json={"personalNumber": number}).json()
        phone.decide(phone.requests(wait=5).requests[0], "approve")
        final = kiosk.post("/v1/password", json={"orderRef": login["orderRef"], "password": "Ny-Fjord-2026"}).json()
        assert final["status"] == "complete"
    finally:
        phone.close()
    customer_id = show(daemon, number)["id"]
    assert "password.reset" in audit_events(daemon, str(customer_id))
    daemon.run("tillit-signer", "audit", "verify")


def _customer_certificate(daemon: Daemon, kiosk: httpx.Client, number: str, phone: PhoneClient, folder: Path) -> Path:
    order = kiosk.post(
        "/v1/sign",
        json={
            "personalNumber": number,
            "userVisibleData": "Signer",
            "documents": [{"name": "a.txt", "contentType": "text/plain", "content": base64.b64encode(b"a").decode()}],
        },
    ).json()
    phone.decide(phone.requests(wait=5).requests[0], "approve")
    kiosk.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD})
    (folder / "s.p7s").write_bytes(kiosk.get(f"/v1/orders/{order['orderRef']}/documents/0").content)
    certs = subprocess.run(
        ["openssl", "pkcs7", "-inform", "DER", "-in", str(folder / "s.p7s"), "-print_certs"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    pems = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n", certs, re.S)
    chain = kiosk.get("/v1/ca").text
    (folder / "chain.pem").write_text(chain)
    (folder / "issuing.pem").write_text(
        re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n", chain, re.S)[0]
    )
    leaf = next(p for p in pems if p not in chain)
    (folder / "customer.pem").write_text(leaf)
    return folder / "customer.pem"


def _hsm_signatures(daemon: Daemon) -> int:
    found = re.search(r"^tillit_hsm_signatures_total ([0-9.]+)$", httpx.get(daemon.url + "/metrics").text, re.M)
    assert found
    return int(float(found.group(1)))


def _ocsp(daemon: Daemon, folder: Path, cert: Path) -> str:
    return subprocess.run(
        ["openssl", "ocsp", "-issuer", str(folder / "issuing.pem"), "-cert", str(cert), "-url",
         daemon.url + "/v1/ocsp", "-CAfile", str(folder / "chain.pem")],
        capture_output=True, text=True,
    ).stdout  # fmt: skip


def test_block_during_open_sign_order_then_unblock(daemon: Daemon, kiosk: httpx.Client, tmp_path: Path) -> None:
    number = fresh_adult()
    daemon.enrol(number)
    phone = daemon.add_device(number)
    try:
        cert = _customer_certificate(daemon, kiosk, number, phone, tmp_path)
        assert ": good" in _ocsp(daemon, tmp_path, cert)

        order = kiosk.post(
            "/v1/sign",
            json={
                "personalNumber": number,
                "userVisibleData": "Signer",
                "documents": [
                    {"name": "b.txt", "contentType": "text/plain", "content": base64.b64encode(b"b").decode()}
                ],
            },
        ).json()
        phone.decide(phone.requests(wait=5).requests[0], "approve")
        signed_before = _hsm_signatures(daemon)
        blocked = kiosk.post("/v1/block", json={"personalNumber": number, "reason": "mista telefonen"})
        assert blocked.status_code == 200
        state = kiosk.post("/v1/collect", json={"orderRef": order["orderRef"]}).json()
        assert (state["status"], state["hintCode"]) == ("failed", "blocked")
        after = kiosk.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD}).json()
        assert after["status"] == "failed"
        assert _hsm_signatures(daemon) == signed_before, "nothing reached the HSM"
        assert "signature.created" not in audit_events(daemon, order["orderRef"])
        assert phone.requests().device_status == "deactivated"
        assert ": revoked" in _ocsp(daemon, tmp_path, cert)
        new = kiosk.post("/v1/auth", json={"personalNumber": number}).json()
        assert kiosk.post("/v1/collect", json={"orderRef": new["orderRef"]}).json()["hintCode"] == "blocked"
    finally:
        phone.close()

    daemon.run("tillit-signer", "customers", "unblock", number)
    unblocked = show(daemon, number)
    assert unblocked["status"] == "active"
    assert unblocked["device"] is None, "the app must be activated again"
    fresh_phone = daemon.add_device(number)
    try:
        folder = tmp_path / "after"
        folder.mkdir()
        new_cert = _customer_certificate(daemon, kiosk, number, fresh_phone, folder)
        assert new_cert.read_text() != cert.read_text()
        assert ": good" in _ocsp(daemon, folder, new_cert)
    finally:
        fresh_phone.close()
    daemon.run("tillit-signer", "audit", "verify")


def test_block_without_authentication_does_not_reveal_customers(kiosk: httpx.Client) -> None:
    unknown = fresh_adult()
    answer = kiosk.post("/v1/block", json={"personalNumber": unknown})
    assert answer.status_code == 200 and answer.json()["blocked"] is True


def test_minor_is_unusable_until_the_guardian_approves(daemon: Daemon, kiosk: httpx.Client) -> None:
    guardian = fresh_adult()
    daemon.enrol(guardian, "Anne Verje")
    guardian_phone = daemon.add_device(guardian)
    minor = synthetic_number(years_ago(15, 6, 15))
    child = synthetic_number(years_ago(10))
    try:
        refused = daemon.run(
            "tillit-signer", "customers", "add", "--personal-number", minor, "--name", "Ung Person",
            "--mobile", "+4791111111", "--email", "ung@example.no", "--password-stdin",
            stdin=PASSWORD + "\n", check=False,
        )  # fmt: skip
        assert refused.returncode == 1 and "guardian" in refused.stderr
        too_young = daemon.run(
            "tillit-signer", "customers", "add", "--personal-number", child, "--name", "Lite Barn",
            "--mobile", "+4791111112", "--email", "barn@example.no", "--password-stdin", "--guardian", guardian,
            stdin=PASSWORD + "\n", check=False,
        )  # fmt: skip
        assert too_young.returncode == 1 and "13" in too_young.stderr and "Traceback" not in too_young.stderr

        daemon.enrol(minor, "Ung Person", PASSWORD, "--guardian", guardian)
        assert show(daemon, minor)["status"] == "pending_guardian"
        minor_phone = daemon.add_device(minor)
        try:
            order = kiosk.post("/v1/auth", json={"personalNumber": minor}).json()
            state = kiosk.post("/v1/collect", json={"orderRef": order["orderRef"]}).json()
            assert state["status"] == "failed", "unusable before the guardian approves"

            request = guardian_phone.requests(wait=5).requests[0]
            assert request.kind == "guardian" and "Ung Person" in request.user_visible_data
            guardian_phone.decide(request, "approve")
            assert show(daemon, minor)["status"] == "active"

            login = kiosk.post("/v1/auth", json={"personalNumber": minor}).json()
            minor_phone.decide(minor_phone.requests(wait=5).requests[0], "approve")
            done = kiosk.post("/v1/password", json={"orderRef": login["orderRef"], "password": PASSWORD}).json()
            assert done["status"] == "complete"
        finally:
            minor_phone.close()
    finally:
        guardian_phone.close()

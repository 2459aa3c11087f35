"""The lifecycle's smaller rules on the real daemon: code-device clock drift, the reset's limits and
password policy, a guardian who declines, and an administrator's block seen in the CRL and the audit."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.daemon import PASSWORD, Daemon
from tests.factories import fresh_adult, synthetic_number, years_ago
from tests.integration.test_lifecycle import audit_events, code_device, enrol_with_answers, show
from tillit.hsm.otp import STEP_SECONDS

pytestmark = pytest.mark.integration


@pytest.fixture
def kiosk(daemon: Daemon) -> Iterator[httpx.Client]:
    with daemon.kiosk() as client:
        yield client


def _early_in_a_step() -> float:
    """Now, at least 3 s before the current TOTP step ends (so a test's codes stay in their steps)."""
    if time.time() % STEP_SECONDS > STEP_SECONDS - 3:
        time.sleep(STEP_SECONDS - time.time() % STEP_SECONDS + 0.05)
    return time.time()


def test_a_code_one_step_off_is_accepted_two_steps_off_is_not(
    daemon: Daemon, kiosk: httpx.Client, tmp_path: Path
) -> None:
    number = fresh_adult()
    daemon.enrol(number)
    device = code_device(daemon, number, tmp_path)
    now = _early_in_a_step()
    for offset, accepted in ((-2 * STEP_SECONDS, False), (2 * STEP_SECONDS, False), (-STEP_SECONDS, True)):
        order = kiosk.post("/v1/auth", json={"personalNumber": number, "method": "codedevice"}).json()
        answer = kiosk.post("/v1/code", json={"orderRef": order["orderRef"], "code": device.code(now + offset)}).json()
        assert answer["hintCode"] == ("userSign" if accepted else "wrongCode"), (offset, answer)
        kiosk.post("/v1/cancel", json={"orderRef": order["orderRef"]})
    # one step ahead (the device's clock runs fast) is accepted too
    order = kiosk.post("/v1/auth", json={"personalNumber": number, "method": "codedevice"}).json()
    ahead = kiosk.post("/v1/code", json={"orderRef": order["orderRef"], "code": device.code(now + STEP_SECONDS)})
    assert ahead.json()["hintCode"] == "userSign", ahead.text
    done = kiosk.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD}).json()
    assert done["status"] == "complete"


def _approved_reset(daemon: Daemon, kiosk: httpx.Client, number: str) -> str:
    phone = daemon.add_device(number)
    try:
        reset = kiosk.post("/v1/reset", json={"personalNumber": number}).json()
        phone.decide(phone.requests(wait=5).requests[0], "approve")
    finally:
        phone.close()
    return str(reset["orderRef"])


def test_three_wrong_answer_sets_lock_the_control_answers(daemon: Daemon, kiosk: httpx.Client) -> None:
    number = fresh_adult()
    enrol_with_answers(daemon, number)
    ref = _approved_reset(daemon, kiosk, number)
    wrong = {"orderRef": ref, "answers": ["Pusur", "Storgata", "Anne"], "newPassword": "Ny-Fjord-2026"}
    answers = [kiosk.post("/v1/reset/complete", json=wrong) for _ in range(3)]
    assert [a.status_code for a in answers[:2]] == [400, 400]
    assert [a.json()["error"] for a in answers[:2]] == ["wrongAnswers", "wrongAnswers"]
    last = answers[2].json()
    assert (last["status"], last["hintCode"]) == ("failed", "answersLocked"), last
    right = {**wrong, "answers": ["Pusur", "Storgata", "Marie"]}
    assert kiosk.post("/v1/reset/complete", json=right).status_code == 409  # the reset has ended
    assert "password.reset" not in audit_events(daemon, str(show(daemon, number)["id"]))


@pytest.mark.parametrize(
    ("new_password", "rule"),
    [("kort1", "at least 8"), ("password123", "common"), ("{birth}-Hest", "national identity number")],
)
def test_a_new_password_must_keep_the_policy(daemon: Daemon, kiosk: httpx.Client, new_password: str, rule: str) -> None:
    number = fresh_adult()
    enrol_with_answers(daemon, number)
    ref = _approved_reset(daemon, kiosk, number)
    body = {"orderRef": ref, "answers": ["Pusur", "Storgata", "Marie"], "newPassword": new_password}
    body["newPassword"] = new_password.replace("{birth}", number[:6])
    refused = kiosk.post("/v1/reset/complete", json=body)
    assert refused.status_code == 400 and rule in refused.json()["reason"], refused.text
    state = kiosk.post("/v1/collect", json={"orderRef": ref}).json()
    assert state["status"] == "pending", "a refused password leaves the reset open"


def test_a_guardian_who_declines_leaves_the_minor_unusable(daemon: Daemon, kiosk: httpx.Client) -> None:
    guardian = fresh_adult()
    daemon.enrol(guardian, "Anne Verje")
    guardian_phone = daemon.add_device(guardian)
    minor = synthetic_number(years_ago(14, 3, 3))
    try:
        daemon.enrol(minor, "Ung Person", PASSWORD, "--guardian", guardian)
        request = guardian_phone.requests(wait=5).requests[0]
        assert request.kind == "guardian"
        guardian_phone.decide(request, "decline")
    finally:
        guardian_phone.close()
    assert show(daemon, minor)["status"] == "guardian_declined"
    minor_phone = daemon.add_device(minor)
    try:
        order = kiosk.post("/v1/auth", json={"personalNumber": minor}).json()
        state = kiosk.post("/v1/collect", json={"orderRef": order["orderRef"]}).json()
        assert state["status"] == "failed"
        assert minor_phone.requests().requests == []
    finally:
        minor_phone.close()
    assert "guardian.declined" in audit_events(daemon, str(show(daemon, minor)["id"]))


def test_an_administrators_block_is_in_the_crl_and_the_audit_log(daemon: Daemon, tmp_path: Path) -> None:
    number = fresh_adult()
    daemon.enrol(number)
    serial = str(show(daemon, number)["certificateSerial"])
    daemon.run("tillit-signer", "customers", "block", number, "--reason", "lost-phone", "--note", "mista telefonen")
    again = daemon.run("tillit-signer", "customers", "block", number, "--reason", "lost-phone", check=False)
    assert again.returncode == 1 and "already blocked" in again.stderr and "Traceback" not in again.stderr
    (tmp_path / "crl.der").write_bytes(httpx.get(daemon.url + "/v1/crl").content)
    (tmp_path / "chain.pem").write_text(httpx.get(daemon.url + "/v1/ca").text)
    crl = subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", str(tmp_path / "crl.der"), "-CAfile", str(tmp_path / "chain.pem"),
         "-noout", "-verify", "-text"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert "verify OK" in crl.stdout + crl.stderr
    listed = {s.lstrip("0").lower() for s in re.findall(r"Serial Number: ([0-9A-Fa-f]+)", crl.stdout)}
    assert serial.lstrip("0").lower() in listed

    daemon.run("tillit-signer", "customers", "unblock", number)
    events = audit_events(daemon, str(show(daemon, number)["id"]))
    assert events.index("customer.blocked") < events.index("customer.unblocked")
    assert show(daemon, number)["certificateSerial"] != serial

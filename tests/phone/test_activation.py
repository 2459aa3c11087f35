"""Activating the app the three ways the bank offers, with the real `tillit-phone` against the real daemon."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.phone.conftest import Activation, collect, outbox_codes, password, phone_of, start_login
from tillit.phone.pytest_plugin import TillitPhone, TillitSigner

pytestmark = pytest.mark.integration

WRONG_PASSWORD = "Feil-Hest-2024"


def activation(kit: TillitSigner, profile: str, number: str, method: str, *extra: str) -> Activation:
    return Activation(kit.home, profile, "--server", kit.url, "--personal-number", number, "--method", method, *extra)


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_sms_email_activation_asks_again_after_wrong_answers_and_its_codes_work_once(kit: TillitSigner) -> None:
    customer = kit.enrol(name="Ola Nordmann")
    act = activation(kit, "ola", customer.personal_number, "sms-email", "--device-name", "Olas telefon")
    before = act.wait_for("SMS code:")
    assert "`tillit-signer outbox list`" in before, "a demo signer's codes are in its outbox: the app says so"
    sms, email = outbox_codes(kit.home, customer.mobile, customer.email)
    # A mistyped SMS code (not sent, nothing counted), a wrong SMS code, then a wrong password: each
    # time the whole round again, in the same order.
    rounds = [
        *("12a45", email, customer.password),
        *(other_code(sms), email, customer.password),
        *(sms, email, WRONG_PASSWORD),
        *(sms, email, customer.password),
    ]
    code, out, err = act.finish(*rounds)
    assert code == 0, err
    assert "BankID is activated on this phone for Ola Nordmann" in out
    assert "the SMS code must be digits only; nothing was sent" in err
    assert "wrong code; 4 attempts left: the SMS code or the e-mail code is wrong" in err
    assert "wrong password" in err and "attempts left" in err
    assert err.count("type the SMS code, the e-mail code and the password again") == 3
    assert (
        re.findall(r"^(SMS code|E-mail code|BankID password|Code from code device): ", err, re.M)
        == [
            "SMS code",
            "E-mail code",
            "BankID password",
        ]
        * 4
    )
    for secret in (sms, email, customer.password, WRONG_PASSWORD, "2580"):
        # nothing typed is ever echoed (as a whole: a printed personal number may hold its digits)
        assert not re.search(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", out + err)

    phone = TillitPhone(kit.home, "ola")
    status = phone.status()
    assert status["activated"] and not status["deactivated"]
    assert status["customerName"] == "Ola Nordmann"
    assert status["personalNumber"] == customer.personal_number
    assert status["deviceName"] == "Olas telefon"
    assert status["server"] == kit.url

    # The codes worked once: another activation sends fresh ones and does not take the used ones.
    again = activation(kit, "ola-igjen", customer.personal_number, "sms-email")
    again.wait_for("SMS code:")
    assert outbox_codes(kit.home, customer.mobile, customer.email) != (sms, email)
    code, _, err = again.finish(sms, email, customer.password)  # the used codes, then no more answers
    assert code == 2, err
    assert "wrong code; 4 attempts left" in err
    assert not TillitPhone(kit.home, "ola-igjen").status()["activated"]
    assert phone.approve(wait=0).outcome == "nothingPending"  # still the active phone (not "deactivated")


def test_five_wrong_codes_end_the_activation(kit: TillitSigner) -> None:
    customer = kit.enrol()
    act = activation(kit, "five", customer.personal_number, "sms-email")
    act.wait_for("SMS code:")
    sms, email = outbox_codes(kit.home, customer.mobile, customer.email)
    wrong = other_code(sms)
    answers = [wrong, email, customer.password] * 5 + [sms, email, customer.password]  # the right codes too late
    code, _, err = act.finish(*answers)
    assert "1 attempt left" in err
    assert code == 1, err
    assert "the activation has ended" in err
    assert not TillitPhone(kit.home, "five").status()["activated"]


def test_codedevice_activation_and_a_used_code_fails_the_second_time(
    kit: TillitSigner, kiosk: httpx.Client, tmp_path: Path
) -> None:
    customer = kit.enrol()
    serial = f"KB{customer.personal_number}"
    device = tmp_path / "codedevice.json"
    kit.home.run("tillit-hsm", "codedevice", "issue", "--serial", serial, "--out", str(device))
    kit.home.run("tillit-signer", "customers", "assign-codedevice", customer.personal_number, "--serial", serial)
    one_time = kit.home.run("tillit-hsm", "codedevice", "show", str(device)).stdout.strip()
    assert re.fullmatch(r"\d{6}", one_time)

    code, out, err = activation(kit, "brikke", customer.personal_number, "codedevice").finish(
        one_time, customer.password
    )
    assert code == 0, err
    assert "Code from code device: " in err and "BankID password: " in err
    assert not re.search(rf"(?<!\d){one_time}(?!\d)", out + err)

    code, _, err = activation(kit, "brikke-igjen", customer.personal_number, "codedevice").finish(
        one_time, customer.password
    )
    assert code == 2, err
    assert "wrong code" in err
    assert not TillitPhone(kit.home, "brikke-igjen").status()["activated"]

    phone = TillitPhone(kit.home, "brikke")  # the code device's activation stands
    order = start_login(kiosk, customer.personal_number)
    approved = phone.approve(wait=10)
    assert approved.ok and approved.request is not None
    assert approved.request["orderRef"] == order["orderRef"]
    assert password(kiosk, order["orderRef"], customer.password)["status"] == "complete"


def test_the_old_phone_approves_the_new_one_and_is_deactivated(kit: TillitSigner, kiosk: httpx.Client) -> None:
    customer = kit.new_customer(name="Per Hansen")
    old = phone_of(customer)
    act = activation(kit, "per-ny", customer.personal_number, "old-device", "--device-name", "Ny telefon")
    shown = act.wait_for("Reference:")
    reference = re.search(r"Reference: ([^\n]+)", shown)
    assert reference is not None
    act.answer(customer.password)  # asked before or after the approval, depending on the signer: one line

    approved = old.approve(wait=10, reference=reference.group(1))
    assert approved.ok, approved.stderr
    assert approved.request is not None
    assert approved.request["kind"] == "activation"
    assert approved.request["reference"] == reference.group(1)
    assert approved.request["userVisibleData"] == "Aktiver BankID på ein ny telefon"  # never the new device's name

    code, out, err = act.finish()
    assert code == 0, err
    assert "BankID is activated on this phone for Per Hansen" in out

    # The second activation deactivated the first phone at once: it can approve nothing now.
    order = start_login(kiosk, customer.personal_number)
    refused = old.approve(wait=1)
    assert refused.exit_code == 5 and refused.outcome == "deactivated", refused.stderr
    assert "deactivated" in refused.stderr
    assert old.status()["deactivated"]
    assert collect(kiosk, order["orderRef"])["hintCode"] == "outstandingTransaction"

    new = TillitPhone(kit.home, "per-ny")
    done = new.approve(wait=10)
    assert done.ok and done.request is not None and done.request["orderRef"] == order["orderRef"]
    assert password(kiosk, order["orderRef"], customer.password)["status"] == "complete"
    history = new.status()["history"]
    assert history[0]["orderRef"] == order["orderRef"] and history[0]["decision"] == "approve"

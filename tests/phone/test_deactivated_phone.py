"""A phone the bank deactivated says so, and why, with the real `tillit-phone` against the real daemon:
blocked, then unblocked (no phone active: activate again), then replaced by another phone."""

from __future__ import annotations

import json

import pytest

from tillit.phone.pytest_plugin import TillitSigner

pytestmark = pytest.mark.integration


def shown(kit: TillitSigner, number: str) -> tuple[dict[str, object], str]:
    as_json = json.loads(kit.home.run("tillit-signer", "customers", "show", number, "--json").stdout)
    return as_json, kit.home.run("tillit-signer", "customers", "show", number).stdout


def test_after_block_and_unblock_the_phone_says_the_bank_deactivated_it_not_another_device(kit: TillitSigner) -> None:
    customer = kit.new_customer(name="Siri Dahl")
    phone = customer.phone
    assert phone is not None
    number = customer.personal_number

    kit.home.run("tillit-signer", "customers", "block", number, "--reason", "suspected-misuse")
    blocked = phone.approve(wait=0)
    assert blocked.exit_code == 5, blocked.stderr
    assert "BankID is blocked by the bank" in blocked.stderr
    assert "another device" not in blocked.stderr

    kit.home.run("tillit-signer", "customers", "unblock", number)
    data, text = shown(kit, number)
    assert data["device"] is None
    assert "none active: the customer activates the app" in text
    refused = phone.approve(wait=0)
    assert refused.exit_code == 5, refused.stderr
    assert "BankID on this phone was deactivated by the bank; activate BankID on this phone again" in refused.stderr
    assert "another device" not in refused.stderr
    status = phone.status()
    assert status["deactivated"] and not status["activated"]
    assert "deactivated by the bank" in str(status["deactivatedReason"])
    said = phone.run("status").stdout
    assert "deactivated by the bank" in said and "another device" not in said

    # Activated again on a new phone: now the old one is told, truly, that another device has it.
    new_phone = kit.activate(customer, f"{phone.profile}-ny")
    assert new_phone.approve(wait=0).outcome == "nothingPending"
    data, _ = shown(kit, number)
    assert isinstance(data["device"], dict) and data["device"]["status"] == "active"
    replaced = phone.approve(wait=0)
    assert replaced.exit_code == 5 and "BankID was activated on another device" in replaced.stderr

"""The phone screen says why it is deactivated and what the customer can do, against the real daemon:
BankID activated on another phone, the customer blocked, then unblocked (deactivated by the bank); the
lock after five wrong PINs is in test_pin_screen.py. The signer says why (`deactivatedReason`) on the
long-poll and on its 403 `deviceDeactivated`, to the device itself only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from textual.widgets import Label

from tests.phone.conftest import phone_of
from tests.phone.screen_helpers import account_of, open_phone, wait_until
from tillit.phone.app import PhoneApp
from tillit.phone.client import PhoneClient, PhoneError
from tillit.phone.keystore import DeviceDeactivated
from tillit.phone.pytest_plugin import TillitSigner
from tillit.phone.widgets.request_panel import RequestPanel

pytestmark = [pytest.mark.tui, pytest.mark.integration]

SIZE = (50, 24)
TITLE = "Denne eininga er deaktivert"


def watch_until_deactivated(client: PhoneClient, deactivate: Callable[[], Any] | None = None) -> tuple[str, ...]:
    """Run the phone screen; `deactivate` while it waits for requests (None: it is already); what the
    deactivated view then says: its title, why, and what to do."""

    async def scenario() -> tuple[str, ...]:
        app = PhoneApp(client, owner="Siri Dahl", long_poll_seconds=3)
        async with app.run_test(size=SIZE) as pilot:
            panel = app.screen.query_one(RequestPanel)
            if deactivate is not None:
                await pilot.pause(0.2)  # the long-poll is waiting: the deactivation wakes it
                await asyncio.to_thread(deactivate)
            await wait_until(pilot, lambda: panel.view == "deactivated", what="the deactivated view")
            await pilot.pause()
            parts = ("title", "why", "next")
            return tuple(str(app.screen.query_one(f"#deactivated-{part}", Label).content) for part in parts)

    return asyncio.run(scenario())


def test_the_screen_says_another_device_was_activated_and_what_to_do(kit: TillitSigner) -> None:
    customer = kit.new_customer(name="Siri Dahl")
    client, _ = open_phone(phone_of(customer))
    try:
        said = watch_until_deactivated(client, lambda: kit.activate(customer, f"{phone_of(customer).profile}-ny"))
    finally:
        client.close()
    assert said == (
        TITLE,
        "BankID vart aktivert på ei anna eining, og då vart denne deaktivert.",
        "Var det ikkje deg, kontakt banken med ein gong. Vil du bruke BankID her, aktiver BankID på nytt på "
        "denne eininga.",
    )


def test_the_screen_says_the_bank_blocked_it_and_after_unblocking_that_the_bank_deactivated_it(
    kit: TillitSigner,
) -> None:
    customer = kit.new_customer(name="Siri Dahl")
    number = customer.personal_number
    client, _ = open_phone(phone_of(customer))
    try:
        blocked = watch_until_deactivated(
            client, lambda: kit.home.run("tillit-signer", "customers", "block", number, "--reason", "lost-phone")
        )
        kit.home.run("tillit-signer", "customers", "unblock", number)
        unblocked = watch_until_deactivated(client)  # no phone comes back: this one is to be activated again
    finally:
        client.close()
    assert blocked == (
        TITLE,
        "Banken har sperra BankID-en din.",
        "Kontakt banken for å opne BankID-en igjen. Aktiver deretter BankID på nytt på denne eininga.",
    )
    assert unblocked == (
        TITLE,
        "Banken har deaktivert BankID på denne eininga.",
        "Aktiver BankID på nytt for å bruke appen igjen. Lurer du på kvifor, kontakt banken.",
    )


def test_the_reason_goes_to_the_device_itself_only(kit: TillitSigner) -> None:
    """The long-poll and a refused request of the device itself carry `deactivatedReason`; a request
    naming the device but not signed by its key is refused as before, saying nothing of it."""
    customer = kit.new_customer(name="Siri Dahl")
    phone = phone_of(customer)
    client, _ = open_phone(phone)
    impostor = PhoneClient(client.server, client.device_id, ec.generate_private_key(ec.SECP256R1()))
    try:
        kit.home.run("tillit-signer", "customers", "block", customer.personal_number, "--reason", "lost-phone")
        polled = client.requests()
        assert (polled.device_status, polled.deactivated_reason, polled.requests) == ("deactivated", "blocked", [])
        with pytest.raises(PhoneError) as refused:
            client.settings(biometric=True)
        assert (refused.value.status, refused.value.code) == (403, "deviceDeactivated")
        assert refused.value.deactivated_reason == "blocked"
        with pytest.raises(DeviceDeactivated) as unlock_refused:  # the app PIN, checked by the signer
            account_of(phone).check_pin(phone.pin)
        assert unlock_refused.value.deactivated_reason == "blocked"

        for response in (
            impostor.request("GET", "/v1/app/requests"),
            impostor.request("POST", "/v1/app/settings", {"biometric": True}),
            httpx.get(f"{client.server}/v1/app/requests"),
        ):
            assert response.status_code == 401, response.text
            assert set(response.json()) == {"error", "reason"}, response.text
            assert "block" not in response.text
    finally:
        impostor.close()
        client.close()

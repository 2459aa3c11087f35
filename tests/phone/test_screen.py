"""The phone screen (`tillit-phone watch`) driven with `App.run_test()` and Pilot.

The first tests run against the real daemon (an approval from the screen completes a login; activating
another phone deactivates this one while it waits); the rest use a fake signer to reach every branch.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from textual.app import App, ComposeResult

from tests.phone.conftest import collect, password, phone_of, start_login
from tests.phone.fakes import FakeClient, deactivated, pending, request
from tests.phone.screen_helpers import click_when_shown, open_phone, wait_until
from tillit.phone.app import PhoneApp
from tillit.phone.client import PhoneError
from tillit.phone.pytest_plugin import TillitCustomer, TillitSigner
from tillit.phone.screens.biometric import BiometricDialog
from tillit.phone.screens.error import ErrorDialog
from tillit.phone.screens.pin import PinDialog
from tillit.phone.widgets.big_text import layout, render_big
from tillit.phone.widgets.request_panel import RequestPanel

pytestmark = pytest.mark.tui

SIZE = (50, 24)


def panel_of(app: App[Any]) -> RequestPanel:
    return app.screen.query_one(RequestPanel)


# -- against the real daemon ---------------------------------------------------------------------


@pytest.mark.integration
def test_approving_on_the_screen_completes_a_login(kiosk: httpx.Client, kari: TillitCustomer) -> None:
    client, check_pin = open_phone(phone_of(kari))
    decided: list[dict[str, Any]] = []

    async def scenario() -> str:
        app = PhoneApp(
            client, owner=kari.name, device="phone", check_pin=check_pin, on_decided=decided.append, long_poll_seconds=3
        )
        async with app.run_test(size=SIZE) as pilot:
            panel = panel_of(app)
            await pilot.pause(0.2)  # the long-poll is waiting before the order starts: this is the push path
            order = await asyncio.to_thread(start_login, kiosk, kari.personal_number)
            await wait_until(pilot, lambda: panel.current is not None, what="the request on the screen")
            assert panel.current is not None
            assert panel.current.order_ref == order["orderRef"]
            assert panel.current.reference == order["reference"]
            await click_when_shown(pilot, "#approve")
            await wait_until(pilot, lambda: isinstance(app.screen, PinDialog), what="the PIN dialog")
            await pilot.press(*"2580", "enter")
            await wait_until(pilot, lambda: panel.message.startswith("Godkjent"), what="the approval")
            assert panel.view == "waiting"
            return str(order["orderRef"])

    try:
        ref = asyncio.run(scenario())
    finally:
        client.close()
    assert collect(kiosk, ref)["hintCode"] == "userSign"
    assert password(kiosk, ref, kari.password)["status"] == "complete"
    assert decided == [
        {
            "orderRef": ref,
            "reference": decided[0]["reference"],
            "kind": "auth",
            "method": "app",
            "kioskName": "Bergen sentrum",
            "decision": "approve",
            "outcome": "done",
        }
    ]


@pytest.mark.integration
def test_the_screen_says_so_when_another_phone_is_activated(kit: TillitSigner) -> None:
    customer = kit.new_customer(name="Siri Dahl")
    client, check_pin = open_phone(phone_of(customer))
    told: list[bool] = []

    async def scenario() -> None:
        app = PhoneApp(client, owner="Siri Dahl", check_pin=check_pin, on_deactivated=lambda: told.append(True))
        async with app.run_test(size=SIZE) as pilot:
            panel = panel_of(app)
            await pilot.pause(0.2)
            await asyncio.to_thread(kit.activate, customer, "siri-ny")
            await wait_until(pilot, lambda: panel.view == "deactivated", what="the deactivated view")
            await pilot.press("j")  # nothing to approve
            assert panel.current is None

    try:
        asyncio.run(scenario())
    finally:
        client.close()
    assert told == [True]


# -- with a fake signer ---------------------------------------------------------------------------


def run(app: App[Any], scenario: Any) -> None:
    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await scenario(pilot)

    asyncio.run(main())


def test_a_wrong_pin_approves_nothing_and_no_declines() -> None:
    client = FakeClient(pending(request()), repeat_last=True)
    app = PhoneApp(client, owner="Kari Nordmann", check_pin=lambda pin: pin == "2580")

    async def scenario(pilot: Any) -> None:
        panel = panel_of(app)
        await wait_until(pilot, lambda: panel.current is not None)
        await pilot.press("j")
        await wait_until(pilot, lambda: isinstance(app.screen, PinDialog))
        first = app.screen
        await pilot.press(*"1111", "enter")
        await wait_until(pilot, lambda: panel.message == "Feil PIN-kode. Prøv igjen.")
        # asked again at once, in a new PIN dialog
        await wait_until(pilot, lambda: isinstance(app.screen, PinDialog) and app.screen is not first)
        await pilot.press("escape")  # changed their mind
        await wait_until(pilot, lambda: not isinstance(app.screen, PinDialog))
        assert client.remote.decisions == [] and panel.current is not None
        await pilot.press("n")
        await wait_until(pilot, lambda: panel.message == "Avvist.")

    run(app, scenario)
    assert client.remote.decisions == [(request().order_ref, "decline", False)]
    assert client.remote.closed  # the panel closes the connection it opened


def test_biometric_approval_uses_the_fingerprint() -> None:
    client = FakeClient(pending(request()), repeat_last=True)
    app = PhoneApp(client, biometric=True, check_pin=lambda pin: False)

    async def scenario(pilot: Any) -> None:
        panel = panel_of(app)
        await wait_until(pilot, lambda: panel.current is not None)
        await click_when_shown(pilot, "#approve")
        await wait_until(pilot, lambda: isinstance(app.screen, BiometricDialog))
        await pilot.click("#scan")
        await wait_until(pilot, lambda: panel.message.startswith("Godkjent"))

    run(app, scenario)
    assert client.remote.decisions == [(request().order_ref, "approve", True)]


def test_an_expiring_request_disappears_with_a_message() -> None:
    soon = request(expires_at=int(time.time()) + 2)  # at least a second from now
    client = FakeClient(pending(soon), repeat_last=True)
    app = PhoneApp(client)

    async def scenario(pilot: Any) -> None:
        panel = panel_of(app)
        await wait_until(pilot, lambda: panel.current is not None)
        await pilot.press("j")
        await wait_until(pilot, lambda: isinstance(app.screen, PinDialog))
        await wait_until(pilot, lambda: panel.current is None, timeout=5)
        await wait_until(pilot, lambda: not isinstance(app.screen, PinDialog), what="the PIN dialog to close")
        assert client.remote.decisions == []
        assert panel.message == "Førespurnaden gjekk ut på tid."
        assert panel.view == "waiting"

    run(app, scenario)


@pytest.mark.parametrize(
    ("error", "message", "view"),
    [
        (PhoneError(410, "expired", "the request has expired"), "Førespurnaden gjekk ut på tid.", "waiting"),
        (PhoneError(409, "alreadyAnswered", "x"), "Førespurnaden er allereie svart på eller avslutta.", "waiting"),
        (PhoneError(403, "deviceDeactivated", "this device has been deactivated"), "", "deactivated"),
    ],
)
def test_a_refused_decision_is_explained(error: PhoneError, message: str, view: str) -> None:
    client = FakeClient(pending(request()), repeat_last=True, decide_error=error)
    app = PhoneApp(client)

    async def scenario(pilot: Any) -> None:
        panel = panel_of(app)
        await wait_until(pilot, lambda: panel.current is not None)
        await pilot.press("n")
        await wait_until(pilot, lambda: panel.view == view and panel.current is None)
        assert panel.message == message

    run(app, scenario)


def test_a_failing_worker_is_reported_in_a_dialog() -> None:
    client = FakeClient(PhoneError(401, "unauthorized", "unknown device"))
    app = PhoneApp(client)

    async def scenario(pilot: Any) -> None:
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorDialog), what="the error dialog")
        assert isinstance(app.screen, ErrorDialog)
        assert app.screen.message == "unknown device"
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ErrorDialog))

    run(app, scenario)


def test_the_signer_unreachable_is_reported_once_and_retried() -> None:
    client = FakeClient(httpx.ConnectError("refused"), httpx.ConnectError("refused"), pending(request()))
    app = PhoneApp(client)

    async def scenario(pilot: Any) -> None:
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorDialog))
        await pilot.press("enter")
        panel = panel_of(app)
        await wait_until(pilot, lambda: panel.current is not None, timeout=5)
        assert panel.message == ""

    run(app, scenario)


class KioskWithPhone(App[None]):
    """How the kiosk's demo embeds the phone: a RequestPanel with a PIN provider, no dialog."""

    def __init__(self, client: FakeClient) -> None:
        super().__init__()
        self.client = client

    def compose(self) -> ComposeResult:
        yield RequestPanel(self.client, pin_provider=lambda: "2580")


def test_the_panel_embeds_with_a_pin_provider() -> None:
    client = FakeClient(pending(request(kind="auth")), repeat_last=True)
    app = KioskWithPhone(client)

    async def scenario(pilot: Any) -> None:
        panel = app.query_one(RequestPanel)
        await wait_until(pilot, lambda: panel.current is not None)
        await click_when_shown(pilot, "#approve")
        await wait_until(pilot, lambda: panel.message.startswith("Godkjent"))

    run(app, scenario)
    assert client.remote.decisions == [(request().order_ref, "approve", False)]


def test_deactivated_device_shows_no_requests() -> None:
    told: list[bool] = []
    app = PhoneApp(FakeClient(deactivated()), on_deactivated=lambda: told.append(True))

    async def scenario(pilot: Any) -> None:
        await wait_until(pilot, lambda: panel_of(app).view == "deactivated")

    run(app, scenario)
    assert told == [True]


def test_big_text_wraps_words_to_the_width() -> None:
    assert layout("BLÅ FJORD", 46) == ["BLÅ FJORD"]
    assert layout("STILLE STJERNE", 46) == ["STILLE", "STJERNE"]
    rows = render_big("ØY", 40)
    assert len(rows) == 3 and all(len(row) == 7 for row in rows)
    assert render_big("A?", 40)[1] == "├─┤  ? "

"""The phone screen's app PIN against the real daemon: the signer checks it, the screen shows the attempts
left (in its message and in the next PIN dialog), and after five wrong PINs in a row the phone is locked."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from textual.app import App
from textual.widgets import Footer, Label

from tests.phone.conftest import collect, phone_of, start_login
from tests.phone.screen_helpers import account_of, open_phone, wait_until
from tillit.phone.app import PhoneApp
from tillit.phone.pytest_plugin import TillitSigner
from tillit.phone.screens.pin import PinDialog
from tillit.phone.widgets.request_panel import RequestPanel

pytestmark = [pytest.mark.tui, pytest.mark.integration]

SIZE = (50, 24)


def panel_of(app: App[Any]) -> RequestPanel:
    return app.screen.query_one(RequestPanel)


def shown(app: App[Any], selector: str) -> str:
    return str(app.screen.query_one(selector, Label).content)


def footer_keys(app: App[Any]) -> list[str]:
    """The keys the footer shows now: the current screen's bindings that are shown."""
    return [key for key, active in app.screen.active_bindings.items() if active.binding.show]


async def type_pin(pilot: Any, app: App[Any], pin: str) -> str | None:
    """ "Ja, det er meg", then `pin`; what the PIN dialog said of the attempts left (None: nothing)."""
    await pilot.press("j")
    return (await type_in_dialog(pilot, app, pin))[1]


async def type_in_dialog(pilot: Any, app: App[Any], pin: str) -> tuple[str, str | None]:
    """`pin` in the PIN dialog open now; what it asked, and what it said of the attempts left."""
    await wait_until(pilot, lambda: isinstance(app.screen, PinDialog), what="the PIN dialog")
    await pilot.pause()
    prompt = str(app.screen.query_one("#prompt", Label).content)
    attempts = app.screen.query("#attempts")
    said = str(attempts.only_one(Label).content) if attempts else None
    dialog = app.screen
    await pilot.press(*pin, "enter")
    await wait_until(pilot, lambda: app.screen is not dialog, what="the PIN dialog closed")
    return prompt, said


def test_wrong_pins_show_the_attempts_left_and_the_fifth_locks_the_phone(
    kit: TillitSigner, kiosk: httpx.Client
) -> None:
    customer = kit.new_customer(name="Pia Lås")
    phone = phone_of(customer)
    client, _ = open_phone(phone)
    account = account_of(phone)
    order = start_login(kiosk, customer.personal_number)

    async def scenario() -> None:
        app = PhoneApp(client, owner=customer.name, check_pin=account.check_pin, long_poll_seconds=3)
        async with app.run_test(size=SIZE) as pilot:
            panel = panel_of(app)
            await wait_until(pilot, lambda: panel.current is not None, what="the request")
            assert await type_pin(pilot, app, "1111") is None
            # A wrong PIN opens the dialog again at once, as the BankID app does, with the attempts left.
            await wait_until(pilot, lambda: panel.message == "Feil PIN-kode. 4 forsøk igjen før appen blir låst.")
            again = ("Feil PIN-kode. Prøv igjen.", "4 forsøk igjen før appen blir låst.")
            assert await type_in_dialog(pilot, app, "1112") == again
            await wait_until(pilot, lambda: panel.message.startswith("Feil PIN-kode. 3 forsøk"))
            for pin in ("1113", "1114"):
                await type_in_dialog(pilot, app, pin)
            await wait_until(pilot, lambda: panel.message == "Feil PIN-kode. Siste forsøk før appen blir låst.")
            assert (await type_in_dialog(pilot, app, "1115"))[1] == "Siste forsøk før appen blir låst."
            await wait_until(pilot, lambda: panel.view == "deactivated", what="the locked phone")
            assert shown(app, "#deactivated-why") == "Appen vart låst etter fem feil PIN-kodar på rad."
            assert shown(app, "#deactivated-next") == "Aktiver BankID på nytt for å bruke appen igjen."
            assert panel.message == ""  # said once, on the screen, not again below it
            assert not isinstance(app.screen, PinDialog)  # no dialog asks again on a locked phone

    try:
        asyncio.run(scenario())
    finally:
        client.close()
    assert collect(kiosk, order["orderRef"])["hintCode"] == "outstandingTransaction"  # nothing approved
    locked = phone.approve(wait=0)  # the right PIN, from the command line: still locked
    assert locked.exit_code == 5 and "locked" in locked.stderr
    assert phone.status()["locked"]


def test_the_footer_under_the_pin_dialog_shows_only_its_keys(kit: TillitSigner, kiosk: httpx.Client) -> None:
    """While the PIN dialog is open, "Ja", "Nei" and "Avslutt" do not apply (the keys go to the PIN
    field): the footer shows the dialog's own key, Esc to cancel, and the screen's come back after."""
    customer = kit.new_customer(name="Per Fot")
    phone = phone_of(customer)
    client, _ = open_phone(phone)
    account = account_of(phone)
    start_login(kiosk, customer.personal_number)

    async def scenario() -> None:
        app = PhoneApp(client, owner=customer.name, check_pin=account.check_pin, long_poll_seconds=3)
        async with app.run_test(size=SIZE) as pilot:
            panel = panel_of(app)
            await wait_until(pilot, lambda: panel.current is not None, what="the request")
            await pilot.pause()
            assert footer_keys(app) == ["j", "n", "q"]
            await pilot.press("j")
            await wait_until(pilot, lambda: isinstance(app.screen, PinDialog), what="the PIN dialog")
            await pilot.pause()
            assert footer_keys(app) == ["escape"]
            assert app.screen.active_bindings["escape"].binding.description == "Avbryt"
            footer = app.screen.query_one(Footer)  # the dialog's own, over the requests screen's
            assert footer.region.y == SIZE[1] - 1 and footer.region.width == SIZE[0]
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, PinDialog), what="the dialog closed")
            await pilot.pause()
            assert footer_keys(app) == ["j", "n", "q"]

    try:
        asyncio.run(scenario())
    finally:
        client.close()

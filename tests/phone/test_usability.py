"""What a usability test of `tillit-phone watch` found, kept as tests: the keyboard works on every request
(not only the first), a long text says there is more and is read from its top, a request is not hidden
behind Min BankID, the bank coming back is seen at once, and failures are said in plain words."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from textual.app import App
from textual.containers import VerticalScroll
from textual.widgets import Button, Footer

from tests.phone.fakes import FakeClient, pending, request
from tests.phone.screen_helpers import wait_until
from tillit.phone.app import PhoneApp
from tillit.phone.client import PhoneError, raise_for_error
from tillit.phone.screens.error import ErrorDialog
from tillit.phone.screens.min_bankid import MinBankIDScreen
from tillit.phone.widgets.request_panel import RequestPanel

pytestmark = pytest.mark.tui

SIZE = (80, 24)
FIRST = "00000000-0000-4000-8000-000000000001"
SECOND = "00000000-0000-4000-8000-000000000002"
LONG = "Eg stadfestar at eg har lese og godteke kjøpekontrakten for bustaden i Bjørnsons gate 7. " * 12


def run(app: App[Any], scenario: Any, size: tuple[int, int] = SIZE) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await scenario(pilot)

    asyncio.run(main())


def panel_of(app: App[Any]) -> RequestPanel:
    return app.screen.query_one(RequestPanel)


def details(app: App[Any]) -> VerticalScroll:
    return app.screen.query_one("#request-details", VerticalScroll)


def footer_keys(app: App[Any]) -> list[str]:
    """The keys the footer shows now."""
    return [key for key, active in app.screen.active_bindings.items() if active.binding.show]


def test_the_next_request_has_the_keyboard_too_and_is_read_from_its_top() -> None:
    """After the first request was answered the buttons had lost the focus for good: on the next one Enter
    did nothing and Up/Down did not scroll. And a request came scrolled as far as the last was."""
    client = FakeClient(pending(request(text=LONG, order_ref=FIRST)))
    app = PhoneApp(client, owner="Kari Nordmann")

    async def scenario(pilot: Any) -> None:
        panel = panel_of(app)
        await wait_until(pilot, lambda: panel.current is not None, what="the first request")
        await pilot.press("down", "down", "down")
        await wait_until(pilot, lambda: details(app).scroll_y == 3, what="the first request scrolled")
        await pilot.press("n")
        await wait_until(pilot, lambda: panel.message == "Avvist.")
        assert app.focused is None  # nothing to focus while waiting
        panel.update_requests([request(text=LONG, order_ref=SECOND)])  # the next one arrives
        await wait_until(pilot, lambda: panel.current is not None and panel.current.order_ref == SECOND)
        await pilot.pause()
        assert details(app).scroll_y == 0  # from the top: what it is, who asks, the reference
        assert isinstance(app.focused, Button) and app.focused.id == "approve"
        await pilot.press("down", "down")
        await wait_until(pilot, lambda: details(app).scroll_y == 2, what="Down to scroll the next request")
        await pilot.press("tab", "enter")  # Tab to "Nei, avvis", Enter presses it
        await wait_until(pilot, lambda: panel.message == "Avvist.")

    run(app, scenario)
    assert [(ref, decision) for ref, decision, _ in client.remote.decisions] == [
        (FIRST, "decline"),
        (SECOND, "decline"),
    ]


def test_a_long_text_says_there_is_more_below() -> None:
    """The documents' names come after the text: with a long one the customer must know to scroll."""
    app = PhoneApp(FakeClient(pending(request(text=LONG)), repeat_last=True), owner="Kari Nordmann")

    async def scenario(pilot: Any) -> None:
        panel = panel_of(app)
        await wait_until(pilot, lambda: panel.current is not None)
        await wait_until(pilot, lambda: "down" in footer_keys(app), what="↓ Les meir in the footer")
        assert footer_keys(app) == ["down", "j", "n", "q"]
        assert app.screen.active_bindings["down"].binding.description == "Les meir"
        documents = app.screen.query_one("#documents")
        assert documents.region.bottom > details(app).region.bottom  # out of sight at first
        while details(app).scroll_y < details(app).max_scroll_y:
            await pilot.press("down")
        await wait_until(pilot, lambda: "down" not in footer_keys(app), what="no more below")
        await pilot.pause()
        assert details(app).region.contains_region(documents.region)  # the documents in sight now

    run(app, scenario)


def test_a_short_text_has_nothing_more_to_read() -> None:
    app = PhoneApp(FakeClient(pending(request()), repeat_last=True), owner="Kari Nordmann")

    async def scenario(pilot: Any) -> None:
        panel = panel_of(app)
        await wait_until(pilot, lambda: panel.current is not None)
        await pilot.pause()
        assert footer_keys(app) == ["j", "n", "q"]

    run(app, scenario)


def test_a_narrow_phone_keeps_ja_and_nei_in_the_footer() -> None:
    app = PhoneApp(FakeClient(pending(request(text=LONG)), repeat_last=True), owner="Kari Nordmann")

    async def scenario(pilot: Any) -> None:
        panel = panel_of(app)
        await wait_until(pilot, lambda: panel.current is not None)
        await pilot.pause()
        await wait_until(pilot, lambda: app.screen.query_one(Footer).compact, what="the compact footer")
        assert footer_keys(app) == ["down", "j", "n", "q"]

    run(app, scenario, size=(40, 15))


def test_a_footer_that_fits_is_not_compact() -> None:
    app = PhoneApp(FakeClient(pending(request())), owner="Kari Nordmann")

    async def scenario(pilot: Any) -> None:
        panel = panel_of(app)
        await wait_until(pilot, lambda: panel.current is not None)
        await pilot.pause()
        assert not app.screen.query_one(Footer).compact

    run(app, scenario, size=(50, 24))


def test_a_request_arriving_in_min_bankid_comes_forward() -> None:
    """The kiosk waits on the phone: a request must not wait unseen behind Min BankID."""
    client = FakeClient()
    app = PhoneApp(client, owner="Kari Nordmann")

    async def scenario(pilot: Any) -> None:
        panel = panel_of(app)
        await pilot.pause()
        await pilot.press("m")
        await wait_until(pilot, lambda: isinstance(app.screen, MinBankIDScreen), what="Min BankID")
        panel.update_requests([request()])
        await wait_until(pilot, lambda: app.screen is app.requests_screen, what="the request in front")
        assert panel.view == "request"
        assert isinstance(app.focused, Button) and app.focused.id == "approve"

    run(app, scenario)


def test_the_bank_back_is_seen_at_once() -> None:
    """After a failure the next look is a quick one: a long-poll would keep "Ingen kontakt med banken" on
    the screen for its whole wait after the bank is back (here the fake long-poll never answers)."""
    client = FakeClient(httpx.ConnectError("refused"), pending())
    app = PhoneApp(client, long_poll_seconds=25)

    async def scenario(pilot: Any) -> None:
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorDialog), what="the offline dialog")
        panel = app.panel()
        assert panel is not None
        assert isinstance(app.screen, ErrorDialog)
        said = app.screen.message
        assert said == "Fekk ikkje kontakt med banken. Appen prøver igjen av seg sjølv."
        assert "Error" not in said  # no exception's name for a customer
        await pilot.press("enter")
        await wait_until(pilot, lambda: client.remote.polls >= 2 and panel.message == "", timeout=3)

    run(app, scenario)


def test_an_answer_the_bank_did_not_get_keeps_the_request() -> None:
    """ "Nei" (or "Ja") with the bank out of reach: said in words, the request stays to be answered again;
    no dialog with an exception's name."""
    client = FakeClient(pending(request()), repeat_last=True, decide_error=httpx.ConnectError("refused"))
    app = PhoneApp(client)

    async def scenario(pilot: Any) -> None:
        panel = panel_of(app)
        await wait_until(pilot, lambda: panel.current is not None)
        await pilot.press("n")
        expected = "Fekk ikkje kontakt med banken, så svaret ditt er ikkje sendt. Prøv igjen."
        await wait_until(pilot, lambda: panel.message == expected)
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ErrorDialog)
        assert panel.current is not None and panel.view == "request"
        assert not app.screen.query_one("#decline", Button).disabled

    run(app, scenario)


def test_min_bankid_offers_no_biometric_toggle_on_a_deactivated_phone() -> None:
    status = {"exists": True, "activated": False, "deactivated": True, "customerName": "Kari", "history": []}
    app = PhoneApp(FakeClient(), status=lambda: status)

    async def scenario(pilot: Any) -> None:
        await pilot.pause()
        await pilot.press("m")
        await wait_until(pilot, lambda: isinstance(app.screen, MinBankIDScreen), what="Min BankID")
        await pilot.pause()
        assert footer_keys(app) == ["escape"]
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, MinBankIDScreen)  # no PIN asked for nothing

    run(app, scenario)


def test_a_server_that_is_not_the_signer_is_said_in_one_line() -> None:
    """A wrong --server (another web server) answered with an HTML page: it was printed whole."""
    page = "<!DOCTYPE HTML>\n<html>\n<body>\n<h1>Error response</h1>\n</body>\n</html>\n"
    url = "http://127.0.0.1:8123/v1/app/activations"
    response = httpx.Response(501, text=page, request=httpx.Request("POST", url))
    with pytest.raises(PhoneError) as refused:
        raise_for_error(response)
    assert refused.value.reason == (
        "HTTP 501 Not Implemented from http://127.0.0.1:8123/, not an answer of a Tillit signer"
        " (is that the signer's URL?)"
    )
    signer = httpx.Response(410, json={"error": "expired", "reason": "the request has expired"})
    with pytest.raises(PhoneError) as expired:
        raise_for_error(signer)
    assert (expired.value.code, expired.value.reason) == ("expired", "the request has expired")

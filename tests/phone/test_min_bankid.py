"""The "Min BankID" screen and biometric login: the screen against the real daemon, and `tillit-phone biometric`.

The signer must know the setting (`POST /v1/app/settings`): with it on, a login started with
`method: "biometric"` completes on the phone's approval at level "substantial"; with it off, the same
login wants the password after the approval (hint `userSign`).
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.app import App
from textual.widgets import Label, Static

from tests.phone.conftest import collect, password, phone_of, start_login
from tests.phone.fakes import FakeClient, pending, request
from tests.phone.screen_helpers import account_of, open_phone, wait_until
from tillit.phone.account import mask_personal_number, status_data, status_text
from tillit.phone.app import PhoneApp
from tillit.phone.client import PhoneError
from tillit.phone.keystore import Keystore
from tillit.phone.pytest_plugin import TillitCustomer, TillitSigner
from tillit.phone.screens.biometric import BiometricDialog
from tillit.phone.screens.min_bankid import MinBankIDScreen, history_lines, local_time
from tillit.phone.screens.pin import PinDialog
from tillit.phone.screens.requests import RequestsScreen
from tillit.phone.testkit.commands import free_port
from tillit.phone.widgets.request_panel import RequestPanel

pytestmark = pytest.mark.tui

SIZE = (50, 24)


def text(app: App[Any], selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


def entries(app: App[Any]) -> list[str]:
    return [str(s.content) for s in app.screen.query(".entry").results(Static)]


def panel_of(app: App[Any]) -> RequestPanel:
    return app.screen.query_one(RequestPanel)


def biometric_login(kiosk: httpx.Client, number: str) -> dict[str, Any]:
    return start_login(kiosk, number, method="biometric")


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


async def open_min_bankid(pilot: Any, app: App[Any]) -> None:
    await pilot.press("m")
    await wait_until(pilot, lambda: isinstance(app.screen, MinBankIDScreen), what="Min BankID")
    await pilot.pause()


async def toggle(pilot: Any, app: App[Any], pin: str, expect: str) -> None:
    """`b`, the app PIN, and wait for the screen's answer."""
    await pilot.press("b")
    await wait_until(pilot, lambda: isinstance(app.screen, PinDialog), what="the PIN dialog")
    await pilot.press(*pin, "enter")

    def answered() -> bool:
        return isinstance(app.screen, MinBankIDScreen) and app.screen.message == expect

    await wait_until(pilot, answered, what=repr(expect))


# -- against the real daemon ----------------------------------------------------------------------


@pytest.mark.integration
def test_min_bankid_shows_the_activation_and_the_last_answers(kiosk: httpx.Client, kit: TillitSigner) -> None:
    customer = kit.new_customer(name="Nora Berg")
    phone = phone_of(customer)
    declined_order = start_login(kiosk, customer.personal_number)
    assert phone.decline(wait=10).ok  # the real tillit-phone, writing the profile's history
    client, _ = open_phone(phone)
    account = account_of(phone)
    status = phone.status()

    async def scenario() -> dict[str, Any]:
        app = PhoneApp(
            client,
            owner=customer.name,
            device=status["deviceName"],
            check_pin=account.check_pin,
            on_decided=account.remember,
            status=account.status,
            on_biometric=account.set_biometric,
            long_poll_seconds=3,
        )
        async with app.run_test(size=SIZE) as pilot:
            panel = panel_of(app)
            order = await asyncio.to_thread(start_login, kiosk, customer.personal_number)
            await wait_until(pilot, lambda: panel.current is not None, what="the request")
            await pilot.press("j")
            await wait_until(pilot, lambda: isinstance(app.screen, PinDialog), what="the PIN dialog")
            await pilot.press(*phone.pin, "enter")
            await wait_until(pilot, lambda: panel.message.startswith("Godkjent"), what="the approval")

            await open_min_bankid(pilot, app)
            shown = {
                "state": text(app, "#state"),
                "owner": text(app, "#owner"),
                "number": text(app, "#number"),
                "since": text(app, "#since"),
                "device": text(app, "#device-name"),
                "biometric": text(app, "#biometric"),
                "entries": entries(app),
            }
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(app.screen, RequestsScreen), what="back to the requests")
            return {"order": order, "shown": shown}

    try:
        result = asyncio.run(scenario())
    finally:
        client.close()
    shown, order = result["shown"], result["order"]
    assert shown["state"] == "BankID er aktivert på denne eininga"
    assert shown["owner"] == "Nora Berg"
    assert shown["number"] == customer.personal_number[:6] + "*****"
    assert customer.personal_number not in json.dumps(shown)
    assert shown["since"] == local_time(status["activatedAt"]) and shown["since"] != "–"
    assert shown["device"] == status["deviceName"] == "phone"
    assert shown["biometric"] == "Av"
    approved, declined = shown["entries"][:2]
    assert approved.split("\n")[1] == f"Logg inn · Bergen sentrum · {order['reference']}"
    assert "Godkjent" in approved.split("\n")[0]
    assert declined.split("\n")[1] == f"Logg inn · Bergen sentrum · {declined_order['reference']}"
    assert "Avvist" in declined.split("\n")[0]
    assert password(kiosk, order["orderRef"], customer.password)["status"] == "complete"


@pytest.mark.integration
def test_the_toggle_tells_the_signer_and_a_biometric_login_then_completes(
    kiosk: httpx.Client, kit: TillitSigner
) -> None:
    customer = kit.new_customer(name="Eirik Lund")
    phone = phone_of(customer)
    client, _ = open_phone(phone)
    account = account_of(phone)

    async def scenario() -> dict[str, Any]:
        app = PhoneApp(
            client,
            owner=customer.name,
            device="phone",
            check_pin=account.check_pin,
            biometric=False,
            on_decided=account.remember,
            status=account.status,
            on_biometric=account.set_biometric,
            long_poll_seconds=3,
        )
        async with app.run_test(size=SIZE) as pilot:
            await open_min_bankid(pilot, app)
            # The signer checks the PIN and counts: the screen says how many attempts are left.
            await toggle(pilot, app, "1111", "Feil PIN-kode. 4 forsøk igjen før appen blir låst. Ingenting er endra.")
            assert text(app, "#biometric") == "Av" and not account.status()["biometric"]
            await toggle(pilot, app, phone.pin, "Biometri er slått på.")
            assert text(app, "#biometric") == "På"
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(app.screen, RequestsScreen))

            panel = panel_of(app)
            order = await asyncio.to_thread(biometric_login, kiosk, customer.personal_number)
            await wait_until(pilot, lambda: panel.current is not None, what="the biometric request")
            assert panel.current is not None and panel.current.method == "biometric"
            assert panel.query_one("#method", Label).display  # "Innlogging utan passord"
            await pilot.press("j")
            await wait_until(pilot, lambda: isinstance(app.screen, BiometricDialog), what="the fingerprint")
            await pilot.press("f")
            await wait_until(pilot, lambda: panel.message == "Godkjent. Du er logga inn på kiosken.")
            return order

    try:
        order = asyncio.run(scenario())
    finally:
        client.close()
    assert phone.status()["biometric"] is True  # the profile, as `tillit-phone status --json` reads it
    done = collect(kiosk, order["orderRef"])  # the signer: no password asked, a lower level
    assert done["status"] == "complete", done
    assert done["completionData"]["level"] == "substantial"
    assert claims(done["completionData"]["token"])["amr"] == ["app", "bio"]  # the fingerprint was used
    assert phone.status()["history"][0]["method"] == "biometric"


# -- tillit-phone biometric -----------------------------------------------------------------------


def approve_biometric_login(kiosk: httpx.Client, customer: TillitCustomer) -> tuple[dict[str, Any], dict[str, Any]]:
    """A login without password, approved with `tillit-phone approve`: (what it printed, the collect)."""
    order = biometric_login(kiosk, customer.personal_number)
    approved = phone_of(customer).approve(wait=10)
    assert approved.ok and approved.request is not None, approved.stderr
    assert approved.request["orderRef"] == order["orderRef"]
    return approved.request, collect(kiosk, order["orderRef"])


@pytest.mark.integration
def test_biometric_on_and_off_from_the_command_line(kiosk: httpx.Client, kit: TillitSigner) -> None:
    customer = kit.new_customer(name="Siv Holm")
    phone = phone_of(customer)

    wrong = phone.run("biometric", "on", pin="1111")
    assert wrong.returncode == 2 and "wrong app PIN" in wrong.stderr
    assert phone.status()["biometric"] is False
    printed, collected = approve_biometric_login(kiosk, customer)  # the signer did not turn it on either
    assert printed["method"] == "app"  # the signer made it an ordinary login
    assert (collected["status"], collected["hintCode"]) == ("pending", "userSign")
    assert password(kiosk, collected["orderRef"], customer.password)["status"] == "complete"

    on = phone.run("biometric", "on")
    assert on.returncode == 0, on.stderr
    assert on.stdout.strip() == "biometric on"
    assert phone.status()["biometric"] is True
    assert "biometric   on" in phone.run("status").stdout
    printed, collected = approve_biometric_login(kiosk, customer)
    assert printed["method"] == "biometric"
    assert collected["status"] == "complete" and collected["completionData"]["level"] == "substantial"

    off = phone.run("biometric", "off")
    assert off.returncode == 0 and off.stdout.strip() == "biometric off", off.stderr
    assert phone.status()["biometric"] is False
    printed, collected = approve_biometric_login(kiosk, customer)
    assert printed["method"] == "app"
    assert (collected["status"], collected["hintCode"]) == ("pending", "userSign")
    assert password(kiosk, collected["orderRef"], customer.password)["status"] == "complete"


@pytest.mark.integration
def test_biometric_changes_nothing_when_the_signer_refuses_or_is_away(kit: TillitSigner) -> None:
    customer = kit.new_customer(name="Per Vik")
    phone = phone_of(customer)
    keystore = Keystore(Path(phone.home.env["TILLIT_HOME"]) / "phone")

    server = keystore.load(phone.profile).server
    away = keystore.update(phone.profile, lambda p: setattr(p, "server", f"http://127.0.0.1:{free_port()}"))
    unreachable = phone.run("biometric", "on")
    assert unreachable.returncode == 1 and "cannot reach the signer" in unreachable.stderr
    assert len(unreachable.stderr.strip().splitlines()) == 1
    assert keystore.load(phone.profile).biometric is False and away.server != server
    keystore.update(phone.profile, lambda p: setattr(p, "server", server))

    kit.activate(customer, f"{phone.profile}-new")  # this phone is deactivated at once
    refused = phone.run("biometric", "on")
    assert refused.returncode == 5 and "deactivated" in refused.stderr, refused.stderr
    assert keystore.load(phone.profile).biometric is False


# -- with a fake signer ---------------------------------------------------------------------------


def run(app: App[Any], scenario: Any) -> None:
    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await scenario(pilot)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (PhoneError(400, "invalidParameters", "biometric: bad"), "Banken sa nei (biometric: bad). Ingenting er endra."),
        (PhoneError(403, "deviceDeactivated", "gone"), "Denne eininga er deaktivert. Ingenting er endra."),
        (httpx.ConnectError("refused"), "Fekk ikkje kontakt med banken. Ingenting er endra."),
    ],
)
def test_a_refused_toggle_keeps_the_setting(error: Exception, message: str) -> None:
    kept: list[bool] = []
    client = FakeClient(settings_error=error)
    app = PhoneApp(client, owner="Kari Nordmann", on_biometric=kept.append)

    async def scenario(pilot: Any) -> None:
        await open_min_bankid(pilot, app)
        await toggle(pilot, app, "2580", message)
        assert text(app, "#biometric") == "Av"

    run(app, scenario)
    assert kept == [] and app.biometric is False


def test_the_toggle_gives_the_requests_screen_the_fingerprint() -> None:
    kept: list[bool] = []
    client = FakeClient()
    app = PhoneApp(client, owner="Kari Nordmann", on_biometric=kept.append, check_pin=lambda pin: pin == "2580")

    async def scenario(pilot: Any) -> None:
        await open_min_bankid(pilot, app)
        await pilot.press("b")
        await wait_until(pilot, lambda: isinstance(app.screen, PinDialog))
        await pilot.press("escape")  # changed their mind: nothing sent
        await wait_until(pilot, lambda: isinstance(app.screen, MinBankIDScreen))
        assert client.remote.settings_sent == []
        await toggle(pilot, app, "2580", "Biometri er slått på.")
        assert panel_of_requests(app).biometric is True
        await toggle(pilot, app, "2580", "Biometri er slått av.")

    run(app, scenario)
    assert client.remote.settings_sent == [True, False] and kept == [True, False]
    assert app.biometric is False


def panel_of_requests(app: PhoneApp) -> RequestPanel:
    panel = app.panel()
    assert panel is not None
    return panel


def test_a_biometric_request_says_no_password_follows() -> None:
    client = FakeClient(pending(request(kind="auth", method="biometric", documents=())), repeat_last=True)
    app = PhoneApp(client, biometric=False, check_pin=lambda pin: pin == "2580")

    async def scenario(pilot: Any) -> None:
        panel = panel_of(app)
        await wait_until(pilot, lambda: panel.current is not None)
        assert panel.query_one("#method", Label).display
        await pilot.press("j")  # biometric off in the profile: the app PIN
        await wait_until(pilot, lambda: isinstance(app.screen, PinDialog))
        await pilot.press(*"2580", "enter")
        await wait_until(pilot, lambda: panel.message == "Godkjent. Du er logga inn på kiosken.")

    run(app, scenario)
    assert client.remote.decisions == [(request().order_ref, "approve", False)]


def test_an_ordinary_request_hides_the_no_password_line() -> None:
    client = FakeClient(pending(request(kind="auth")), repeat_last=True)
    app = PhoneApp(client)

    async def scenario(pilot: Any) -> None:
        panel = panel_of(app)
        await wait_until(pilot, lambda: panel.current is not None)
        assert not panel.query_one("#method", Label).display

    run(app, scenario)


# -- the shared status ----------------------------------------------------------------------------


def test_the_status_masks_all_but_the_birth_date(tmp_path: Path) -> None:
    assert mask_personal_number("13897248098") == "138972*****"
    assert mask_personal_number(None) == ""
    keystore = Keystore(tmp_path)
    profile, _ = keystore.create("kari", "2580", "http://x")
    profile.personal_number, profile.device_id, profile.customer_name = "13897248098", "d1", "Kari Nordmann"
    profile.remember({"reference": "BLÅ FJORD", "kind": "auth", "method": "biometric", "kioskName": "Bergen sentrum",
                      "decision": "approve", "outcome": "done"})  # fmt: skip
    data = status_data(profile, "kari")
    assert data["personalNumberMasked"] == "138972*****" and data["personalNumber"] == "13897248098"
    assert "[auth, without password]" in status_text(data)
    lines = history_lines({**data["history"][0], "at": "2024-05-02T13:45:10+02:00"})
    assert lines == "02.05.2024 13:45  Godkjent\nLogg inn utan passord · Bergen sentrum · BLÅ FJORD"
    assert history_lines({"decision": "approve", "outcome": "expired", "kind": "sign", "at": None}).startswith(
        "–  Godkjent · gjekk ut på tid\nSigner"
    )

"""Login at the kiosk (Pilot, 80x24) against the real daemon: keys only, the phone answering from outside."""

from __future__ import annotations

import httpx
import pytest

from tests.daemon import PASSWORD, Daemon, make_daemon
from tests.factories import fresh_adult
from tests.kiosk.conftest import (
    SIZE,
    choose_method,
    focus_on,
    footer_text,
    kiosk_settings,
    on_screen,
    phone_answers,
    skip_feedback,
    text_of,
    until,
)
from tillit.kiosk.app import KioskApp
from tillit.phone.client import PhoneClient

pytestmark = [pytest.mark.tui, pytest.mark.integration, pytest.mark.anyio]

WRONG = "Fjord-Hest-2025"


async def test_login_with_the_app(make_app, customer: tuple[str, PhoneClient], daemon: Daemon) -> None:
    number, phone = customer
    app: KioskApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*number)  # typed straight on the welcome screen
        await on_screen(pilot, "NumberScreen")
        await focus_on(pilot, "number")
        await pilot.press("enter")
        await choose_method(pilot, "app")  # the first login after the app was activated: chosen explicitly
        await on_screen(pilot, "WaitingScreen")
        reference = app.order.reference if app.order else ""
        assert reference in text_of(pilot, "#reference-text")  # read before the phone answers and it moves on
        request = await phone_answers(phone)
        assert request.reference == reference  # the kiosk shows what the phone shows
        await on_screen(pilot, "PasswordScreen")
        await focus_on(pilot, "password")
        await pilot.press(*PASSWORD, "enter")
        await on_screen(pilot, "AgreementsScreen")
        assert app.session is not None
        assert app.session.customer.personal_number == number
        assert "Kari Nordmann" in text_of(pilot, "#titlebar")
        token = app.session.token
        await pilot.press("escape")  # log out
        await skip_feedback(pilot)
        assert app.session is None
        await until(pilot, lambda: _session_gone(daemon, token), what="the session to end")


def _session_gone(daemon: Daemon, token: str) -> bool:
    headers = {"Authorization": f"Bearer {daemon.kiosk_token}", "X-Tillit-Session": token}
    response = httpx.get(daemon.url + "/v1/agreements", headers=headers)
    return response.status_code == 401


async def test_login_declined_on_the_phone(make_app, customer: tuple[str, PhoneClient]) -> None:
    number, phone = customer
    app: KioskApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*number, "enter")
        await choose_method(pilot)
        await on_screen(pilot, "WaitingScreen")
        await phone_answers(phone, "decline")
        await on_screen(pilot, "FailedScreen")
        assert "declined in the BankID app" in text_of(pilot, "#reason")
        await pilot.press("enter")
        await on_screen(pilot, "WelcomeScreen")
        assert app.order is None and app.session is None


async def test_wrong_password_then_right(make_app, customer: tuple[str, PhoneClient]) -> None:
    number, phone = customer
    app: KioskApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*number, "enter")
        await choose_method(pilot)
        await on_screen(pilot, "WaitingScreen")
        await phone_answers(phone)
        await on_screen(pilot, "PasswordScreen")
        await pilot.press(*WRONG, "enter")
        await until(pilot, lambda: "4 attempts left" in text_of(pilot, "#status"), what="attempts left")
        await focus_on(pilot, "password")
        assert app.screen.query_one("#password").value == ""  # type: ignore[attr-defined]
        await pilot.press(*PASSWORD, "enter")
        await on_screen(pilot, "AgreementsScreen")
        assert app.session is not None


async def test_password_locked_after_five_wrong(make_app, customer: tuple[str, PhoneClient]) -> None:
    number, phone = customer
    app: KioskApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*number, "enter")
        await choose_method(pilot)
        await on_screen(pilot, "WaitingScreen")
        await phone_answers(phone)
        await on_screen(pilot, "PasswordScreen")
        for left in (4, 3, 2):
            await pilot.press(*WRONG, "enter")
            await until(pilot, lambda left=left: f"{left} attempts left" in text_of(pilot, "#status"))
        await pilot.press(*WRONG, "enter")
        await until(pilot, lambda: "1 attempt left before the password is locked" in text_of(pilot, "#status"))
        await pilot.press(*WRONG, "enter")
        await on_screen(pilot, "FailedScreen")
        assert "password is locked" in text_of(pilot, "#reason")
        await pilot.press("enter")
        await on_screen(pilot, "WelcomeScreen")
        # The lock holds: the next login fails at once, even with the right password at hand.
        await pilot.press(*number, "enter")
        await choose_method(pilot)
        await on_screen(pilot, "FailedScreen")
        assert "password is locked" in text_of(pilot, "#reason")


async def test_unknown_number_answers_like_no_app(make_app) -> None:
    app: KioskApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*fresh_adult(), "enter")
        await choose_method(pilot)  # an unknown number has no remembered method, like a new customer
        await on_screen(pilot, "FailedScreen")
        assert "no active BankID app" in text_of(pilot, "#reason")


async def test_cancel_while_waiting(make_app, customer: tuple[str, PhoneClient]) -> None:
    number, phone = customer
    app: KioskApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*number, "enter")
        await choose_method(pilot)
        await on_screen(pilot, "WaitingScreen")
        order_ref = app.order.order_ref if app.order else ""
        await pilot.press("escape")
        await on_screen(pilot, "WelcomeScreen")
        response = app.client.collect(order_ref)
        assert (response.status, response.hint_code) == ("failed", "cancelled")
    assert phone.requests().requests == []


async def test_expiry(tmp_path, customer_factory=None) -> None:
    """An order that nobody approves expires (TILLIT_ORDER_TTL_SECONDS=3): the countdown, then the reason."""
    daemon = make_daemon(tmp_path / "home", TILLIT_ORDER_TTL_SECONDS="3")
    daemon.start()
    try:
        number = fresh_adult()
        daemon.enrol(number)
        phone = daemon.add_device(number)
        from tillit.kiosk.client import SignerClient

        client = SignerClient(daemon.url, daemon.kiosk_token)
        app = KioskApp(kiosk_settings(hint_after_seconds=1), client)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press(*number, "enter")
            await choose_method(pilot)
            await on_screen(pilot, "WaitingScreen")
            await until(pilot, lambda: "Time left: 0:0" in text_of(pilot, "#countdown"), what="the countdown")
            await until(pilot, lambda: "No response?" in text_of(pilot, "#no-response"), what="the hint")
            await on_screen(pilot, "FailedScreen", timeout=10)
            assert "time ran out" in text_of(pilot, "#reason")
        client.close()
        phone.close()
    finally:
        daemon.stop()


async def test_login_with_a_code_device(make_app, daemon: Daemon, tmp_path) -> None:
    """No app: number, F4, the code device, the code, the password."""
    from tillit.hsm.otp import CodeDeviceFile

    number = fresh_adult()
    daemon.enrol(number, "Ola Nordmann")
    serial = f"KIOSK-{number}"
    device_file = tmp_path / "device.json"
    daemon.run("tillit-hsm", "codedevice", "issue", "--serial", serial, "--out", str(device_file))
    daemon.run("tillit-signer", "customers", "assign-codedevice", number, "--serial", serial)
    device = CodeDeviceFile.load(device_file)
    app: KioskApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*number)
        await on_screen(pilot, "NumberScreen")
        await pilot.press("f4")
        await on_screen(pilot, "MethodScreen")
        await pilot.press("down", "enter")  # Code device
        await on_screen(pilot, "CodeScreen")
        await focus_on(pilot, "code")
        await pilot.press(*("000000" if device.code() != "000000" else "111111"), "enter")
        await until(pilot, lambda: "Wrong code" in text_of(pilot, "#status"), what="wrong code")
        await pilot.press(*device.code(), "enter")
        await on_screen(pilot, "PasswordScreen")
        await focus_on(pilot, "password")
        await pilot.press(*PASSWORD, "enter")
        await on_screen(pilot, "AgreementsScreen")
        assert app.session is not None and app.session.customer.name == "Ola Nordmann"


async def test_block_my_bankid(make_app, customer: tuple[str, PhoneClient], daemon: Daemon) -> None:
    """Logged in, F3, confirm: the BankID is blocked and the next login says so."""
    number, phone = customer
    app: KioskApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*number, "enter")
        await choose_method(pilot)
        await on_screen(pilot, "WaitingScreen")
        await phone_answers(phone)
        await on_screen(pilot, "PasswordScreen")
        await focus_on(pilot, "password")
        await pilot.press(*PASSWORD, "enter")
        await on_screen(pilot, "AgreementsScreen")
        await pilot.press("f3")
        await on_screen(pilot, "BlockScreen")
        assert app.screen.query_one("#number").value == number  # type: ignore[attr-defined]
        await pilot.press("enter")
        await on_screen(pilot, "ConfirmDialog")
        await pilot.press("escape")  # not yet
        await on_screen(pilot, "BlockScreen")
        await pilot.press("enter")
        await on_screen(pilot, "ConfirmDialog")
        await pilot.press("enter")
        await until(pilot, lambda: "is blocked" in text_of(pilot, "#status"), what="blocked")
        await until(pilot, lambda: "OK" in footer_text(pilot).split(), what="the footer to say OK")
        assert "Block BankID" not in footer_text(pilot)  # Enter no longer blocks: it goes back
        await pilot.press("enter")  # done: a blocked BankID's session is over
        await on_screen(pilot, "WelcomeScreen")
        assert app.session is None
        await pilot.press(*number, "enter")
        await choose_method(pilot)
        await on_screen(pilot, "FailedScreen")
        assert "blocked" in text_of(pilot, "#reason")
        assert "Block BankID" not in footer_text(pilot)  # it is blocked already
        await pilot.press("f3")
        await pilot.pause()
        assert type(app.screen).__name__ == "FailedScreen"


async def test_the_block_screen_checks_the_number_as_typed(make_app) -> None:
    """Like the login's number: the count as typed, a wrong check digit at once (not only on Enter), and the
    complaint gone once the number is right, so that none stays under the confirmation."""
    app: KioskApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await on_screen(pilot, "BlockScreen")
        await focus_on(pilot, "number")
        await pilot.press(*"028385")
        await until(pilot, lambda: "6 of 11" in text_of(pilot, "#status"), what="the count")
        await pilot.press(*"12341")
        await until(pilot, lambda: "last two digits" in text_of(pilot, "#status"), what="the check digits")
        await pilot.press("backspace", "0")
        await until(pilot, lambda: "valid" in text_of(pilot, "#status"), what="the number to be right")
        await pilot.press("enter")
        await on_screen(pilot, "ConfirmDialog")
        await pilot.press("escape")
        await on_screen(pilot, "BlockScreen")

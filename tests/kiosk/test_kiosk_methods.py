"""The remembered login method, "Anna innlogging", and the login without password (biometrics or the
app PIN), at the kiosk (Pilot, 80x24) against the real daemon, the phone answering from outside."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.daemon import PASSWORD, Daemon
from tests.kiosk.conftest import (
    SIZE,
    allow_biometric,
    choose_method,
    focus_on,
    footer_text,
    on_screen,
    phone_answers,
    skip_feedback,
    text_of,
    until,
)
from tillit.hsm.otp import CodeDeviceFile
from tillit.kiosk.app import KioskApp
from tillit.phone.client import PhoneClient

pytestmark = [pytest.mark.tui, pytest.mark.integration, pytest.mark.anyio]


async def password_login(pilot, phone: PhoneClient) -> None:
    """From the waiting screen: the phone approves, the password, the agreements."""
    await on_screen(pilot, "WaitingScreen")
    await phone_answers(phone)
    await on_screen(pilot, "PasswordScreen")
    await focus_on(pilot, "password")
    await pilot.press(*PASSWORD, "enter")
    await on_screen(pilot, "AgreementsScreen")


async def log_out(pilot) -> None:
    await pilot.press("escape")
    await skip_feedback(pilot)


def code_device(daemon: Daemon, number: str, folder: Path) -> CodeDeviceFile:
    return daemon.issue_code_device(number, folder, serial=f"KIOSK-{number}")


async def test_first_login_after_activation_shows_the_method_screen(
    make_app, customer: tuple[str, PhoneClient], daemon: Daemon
) -> None:
    number, phone = customer
    app: KioskApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*number, "enter")
        await on_screen(pilot, "MethodScreen")  # no remembered method yet: the customer chooses
        options = app.screen.query_one("#methods")
        assert [options.get_option_at_index(i).id for i in range(3)] == ["app", "codedevice", "biometric"]  # type: ignore[attr-defined]
        await pilot.press("enter")  # the app
        await password_login(pilot, phone)
        await log_out(pilot)

        await pilot.press(*number, "enter")  # now remembered: straight to the app
        await on_screen(pilot, "WaitingScreen")
        assert app.order is not None and app.order.method == "app" and app.order.remembered
        await pilot.press("escape")
        await on_screen(pilot, "WelcomeScreen")

        # A new phone is activated: the first login after it chooses explicitly again.
        new_phone = daemon.add_device(number)
        try:
            await pilot.press(*number, "enter")
            await choose_method(pilot, "app")
            await password_login(pilot, new_phone)
        finally:
            new_phone.close()


async def test_remembered_method_and_choose_another_bankid(
    make_app, customer: tuple[str, PhoneClient], daemon: Daemon, tmp_path
) -> None:
    """Straight to the remembered app; F4 "Anna innlogging" cancels that order and offers the methods."""
    number, phone = customer
    device = code_device(daemon, number, tmp_path)
    app: KioskApp = make_app(language="nn")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*number, "enter")
        await choose_method(pilot, "app")
        await password_login(pilot, phone)
        await log_out(pilot)

        await pilot.press(*number, "enter")
        await on_screen(pilot, "WaitingScreen")
        await until(pilot, lambda: "Anna innlogging" in footer_text(pilot), what="F4 in the footer")
        assert app.order is not None
        first = app.order.order_ref
        await until(pilot, lambda: bool(phone.requests().requests), what="the phone to see the request")
        await pilot.press("f4")
        await on_screen(pilot, "MethodScreen")
        response = app.client.collect(first)
        assert (response.status, response.hint_code) == ("failed", "cancelled")
        assert phone.requests().requests == []  # the phone is asked nothing more

        await pilot.press("down", "enter")  # the code device this time
        await on_screen(pilot, "CodeScreen")
        assert "Anna innlogging" not in footer_text(pilot)  # chosen, not remembered
        await focus_on(pilot, "code")
        await pilot.press(*device.code(), "enter")  # type: ignore[attr-defined]
        await on_screen(pilot, "PasswordScreen")
        await focus_on(pilot, "password")
        await pilot.press(*PASSWORD, "enter")
        await on_screen(pilot, "AgreementsScreen")
        await pilot.press("escape")  # log out: asked for feedback at the first logout, not again
        await on_screen(pilot, "WelcomeScreen")

        # The code device is remembered now, and F4 is offered there too.
        await pilot.press(*number, "enter")
        await on_screen(pilot, "CodeScreen")
        assert app.order is not None and app.order.method == "codedevice" and app.order.remembered
        await until(pilot, lambda: "Anna innlogging" in footer_text(pilot), what="F4 on the code screen")
        await pilot.press("f4")
        await on_screen(pilot, "MethodScreen")


async def test_biometric_login_without_password(make_app, customer: tuple[str, PhoneClient]) -> None:
    """Login without password turned on in the app: approved with the fingerprint, logged in at once
    at the level "substantial"; remembered for the next login."""
    number, phone = customer
    allow_biometric(phone)
    app: KioskApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*number, "enter")
        await choose_method(pilot, "biometric")
        await on_screen(pilot, "WaitingScreen")
        request = await phone_answers(phone, biometric=True)
        assert request.method == "biometric"
        await on_screen(pilot, "AgreementsScreen")  # no password step
        assert app.session is not None and app.session.customer.personal_number == number
        response = app.client.collect(app.session.order_ref)
        assert response.status == "complete" and response.completion_data is not None
        assert response.completion_data.level == "substantial"
        await log_out(pilot)

        await pilot.press(*number, "enter")  # remembered: straight to the app, no password again
        await on_screen(pilot, "WaitingScreen")
        assert app.order is not None and app.order.method == "biometric" and app.order.remembered
        await phone_answers(phone, biometric=True)
        await on_screen(pilot, "AgreementsScreen")


async def test_biometric_not_turned_on_falls_back_to_the_password(make_app, customer: tuple[str, PhoneClient]) -> None:
    number, phone = customer
    app: KioskApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*number, "enter")
        await choose_method(pilot, "biometric")
        await on_screen(pilot, "WaitingScreen")
        await phone_answers(phone)
        await on_screen(pilot, "PasswordScreen")
        assert "biometrics is not turned on" in text_of(pilot, "#note")
        await focus_on(pilot, "password")
        await pilot.press(*PASSWORD, "enter")
        await on_screen(pilot, "AgreementsScreen")
        assert app.session is not None
        response = app.client.collect(app.session.order_ref)
        assert response.completion_data is not None and response.completion_data.level == "high"

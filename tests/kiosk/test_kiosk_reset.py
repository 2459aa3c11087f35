"""Forgotten password ("Gløymt passord") at the kiosk (Pilot, 80x24) against the real daemon: the phone
approves, the control questions, the new password twice, then a normal login with it."""

from __future__ import annotations

import pytest

from tests.daemon import PASSWORD, Daemon
from tests.factories import fresh_adult
from tests.kiosk.conftest import (
    CONTROL_ANSWERS,
    SIZE,
    choose_method,
    enrol_with_answers,
    focus_on,
    footer_text,
    on_screen,
    phone_answers,
    text_of,
    until,
)
from tillit.kiosk.app import KioskApp
from tillit.phone.client import PhoneClient

pytestmark = [pytest.mark.tui, pytest.mark.integration, pytest.mark.anyio]

WRONG = "Fjord-Hest-2025"
NEW_PASSWORD = "Havørn-Skjer-2026"


@pytest.fixture
def answered(daemon: Daemon):
    """A fresh adult with control questions answered and an active phone."""
    number = fresh_adult()
    enrol_with_answers(daemon, number)
    phone = daemon.add_device(number)
    yield number, phone
    phone.close()


async def approve_the_reset(pilot, phone: PhoneClient) -> None:
    await on_screen(pilot, "WaitingScreen")
    assert "new password" in text_of(pilot, ".title")
    request = await phone_answers(phone)
    assert request.kind == "reset"
    await on_screen(pilot, "ResetQuestionsScreen")
    await focus_on(pilot, "answer-0")


async def answer(pilot, answers: tuple[str, ...] | list[str]) -> None:
    """Each answer, Enter after each: the next field, then on to the new password."""
    for index, text in enumerate(answers):
        await focus_on(pilot, f"answer-{index}")
        await pilot.press(*text, "enter")


async def new_password(pilot, password: str) -> None:
    await on_screen(pilot, "ResetPasswordScreen")
    await focus_on(pilot, "new")
    await pilot.press(*password, "enter")
    await focus_on(pilot, "repeat")
    await pilot.press(*password, "enter")


async def test_forgotten_password_after_the_lock(make_app, answered: tuple[str, PhoneClient]) -> None:
    """Five wrong passwords lock it; F5 on the failure screen, the answers (wrong once), a refused and then
    a good new password; the customer logs in with it."""
    number, phone = answered
    app: KioskApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*number, "enter")
        await choose_method(pilot)
        await on_screen(pilot, "WaitingScreen")
        await phone_answers(phone)
        await on_screen(pilot, "PasswordScreen")
        for left in (4, 3, 2, 1):
            await focus_on(pilot, "password")
            await pilot.press(*WRONG, "enter")
            await until(pilot, lambda left=left: f"{left} attempt" in text_of(pilot, "#status"), what=f"{left} left")
        await pilot.press(*WRONG, "enter")
        await on_screen(pilot, "FailedScreen")
        assert "password is locked" in text_of(pilot, "#reason")
        await until(pilot, lambda: "Forgotten password" in footer_text(pilot), what="F5 in the footer")
        await pilot.press("f5")
        await approve_the_reset(pilot, phone)

        await answer(pilot, ["Katten", *CONTROL_ANSWERS[1:]])  # the first one wrong
        await new_password(pilot, "password")  # too common: the signer's policy says no first
        await until(pilot, lambda: "too common" in text_of(pilot, "#status"), what="the policy's reason")
        await new_password(pilot, NEW_PASSWORD)
        await on_screen(pilot, "ResetQuestionsScreen")  # the answers did not match
        await until(pilot, lambda: "2 attempts left" in text_of(pilot, "#status"), what="tries left")
        await answer(pilot, CONTROL_ANSWERS)
        await new_password(pilot, NEW_PASSWORD)
        await on_screen(pilot, "ResetDoneScreen")
        assert app.order is None

        await pilot.press("enter")  # log in with it: the number is already there
        await on_screen(pilot, "NumberScreen")
        await focus_on(pilot, "number")
        assert app.screen.query_one("#number").value == number  # type: ignore[attr-defined]
        await pilot.press("enter")
        await choose_method(pilot)
        await on_screen(pilot, "WaitingScreen")
        await phone_answers(phone)
        await on_screen(pilot, "PasswordScreen")
        await focus_on(pilot, "password")
        await pilot.press(*PASSWORD, "enter")  # the old password is gone
        await until(pilot, lambda: "4 attempts left" in text_of(pilot, "#status"), what="the old one refused")
        await pilot.press(*NEW_PASSWORD, "enter")
        await on_screen(pilot, "AgreementsScreen")
        assert app.session is not None and app.session.customer.personal_number == number


async def test_forgotten_password_from_the_password_screen(make_app, answered: tuple[str, PhoneClient]) -> None:
    """F5 while the login waits for the password: that login is cancelled, the reset starts."""
    number, phone = answered
    app: KioskApp = make_app(language="nn")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*number, "enter")
        await choose_method(pilot)
        await on_screen(pilot, "WaitingScreen")
        await phone_answers(phone)
        await on_screen(pilot, "PasswordScreen")
        assert app.order is not None
        login = app.order.order_ref
        await until(pilot, lambda: "Gløymt passord" in footer_text(pilot), what="F5 in the footer")
        await pilot.press("f5")
        await on_screen(pilot, "WaitingScreen")
        response = app.client.collect(login)
        assert (response.status, response.hint_code) == ("failed", "cancelled")
        request = await phone_answers(phone)
        assert request.kind == "reset"
        await on_screen(pilot, "ResetQuestionsScreen")
        assert "Kva heitte det første kjæledyret ditt?" in str(app.screen.query(".question").first().render())
        await answer(pilot, CONTROL_ANSWERS)
        await new_password(pilot, NEW_PASSWORD)
        await on_screen(pilot, "ResetDoneScreen")
        assert "Det nye passordet er lagra" in text_of(pilot, "#done-title")


async def test_forgotten_password_from_the_number_screen_without_control_questions(
    make_app, customer: tuple[str, PhoneClient]
) -> None:
    """No control questions at the bank: after the phone approves, the customer is sent to the counter."""
    number, phone = customer
    app: KioskApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*number)
        await on_screen(pilot, "NumberScreen")
        await focus_on(pilot, "number")
        await pilot.press("f5")
        await on_screen(pilot, "WaitingScreen")
        await phone_answers(phone)
        await on_screen(pilot, "FailedScreen")
        assert "Ask the branch staff" in text_of(pilot, "#reason")
        assert f"tillit-signer customers reset-password {number}" in text_of(pilot, "#staff")
        assert app.order is None
        await pilot.press("enter")
        await on_screen(pilot, "WelcomeScreen")

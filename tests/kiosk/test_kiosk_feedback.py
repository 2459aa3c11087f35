"""«Me ynskjer di tilbakemelding!» at the kiosk (Pilot, 80x24) against the real daemon: once per customer,
after the first receipt (over the agreements, never over the receipt) or else on logging out; sent in
the background, or skipped."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.daemon import PASSWORD, Daemon
from tests.kiosk.conftest import SIZE, feedback_count, focus_on, on_screen, phone_answers, text_of, until
from tests.kiosk.test_kiosk_signing import log_in, queue_agreement
from tillit.kiosk.app import KioskApp
from tillit.phone.client import PhoneClient

pytestmark = [pytest.mark.tui, pytest.mark.integration, pytest.mark.anyio]


async def test_feedback_after_a_login(make_app, customer: tuple[str, PhoneClient], daemon: Daemon) -> None:
    number, phone = customer
    before = feedback_count(daemon, "auth")
    app: KioskApp = make_app(language="nn")
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, number, phone)
        await pilot.press("escape")  # log out
        await on_screen(pilot, "FeedbackDialog")
        assert "Me ynskjer di tilbakemelding!" in text_of(pilot, "#dialog-title")
        assert app.session is None  # logged out already: the question does not keep the customer
        await pilot.press("enter")  # no rating yet: it says so, nothing is sent
        await until(pilot, lambda: "Vel ein karakter" in text_of(pilot, "#status"), what="choose a rating")
        await pilot.press("5", "left")  # 4 stars
        await until(pilot, lambda: "★★★★☆" in text_of(pilot, "#stars"), what="four stars")
        await pilot.press("down", *"Lett og greitt")
        await focus_on(pilot, "comment")
        await pilot.press("enter")
        await on_screen(pilot, "WelcomeScreen")
    await until_count(daemon, "auth", before + 1)


async def test_feedback_after_a_signature_and_not_again_at_logging_out(
    make_app, customer: tuple[str, PhoneClient], daemon: Daemon, tmp_path: Path
) -> None:
    number, phone = customer
    queue_agreement(daemon, number, "Avtale om brukskonto", tmp_path, pages=1)
    signs, logins = feedback_count(daemon, "sign"), feedback_count(daemon, "auth")
    app: KioskApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, number, phone)
        await until(pilot, lambda: len(app.screen.agreements) == 1, what="the agreement")  # type: ignore[attr-defined]
        await focus_on(pilot, "agreements")
        await pilot.press("enter")
        await on_screen(pilot, "ViewerScreen")
        await until(pilot, lambda: app.screen.loaded, what="the text")  # type: ignore[attr-defined]
        await pilot.press("end")
        await until(pilot, lambda: app.screen.read_to_end, what="read to the end")  # type: ignore[attr-defined]
        await pilot.press("f2")
        await on_screen(pilot, "WaitingScreen")
        await phone_answers(phone)
        await on_screen(pilot, "PasswordScreen")  # signing always asks for the password
        await focus_on(pilot, "password")
        await pilot.press(*PASSWORD, "enter")
        await on_screen(pilot, "ReceiptScreen", timeout=30)  # nothing over the receipt
        await pilot.press("enter")
        await on_screen(pilot, "FeedbackDialog")  # after it, over the agreements
        await pilot.press("3", "enter")
        await on_screen(pilot, "AgreementsScreen")
        await pilot.press("escape")  # log out: asked once already
        await on_screen(pilot, "WelcomeScreen")
        await pilot.pause(0.5)
        assert type(app.screen).__name__ == "WelcomeScreen"
    await until_count(daemon, "sign", signs + 1)
    assert feedback_count(daemon, "auth") == logins  # not asked about the login: nothing was sent


async def until_count(daemon: Daemon, kind: str, count: int, timeout: float = 20) -> None:
    """The signer's feedback report reaches `count` ratings of this kind (sent in the background)."""
    deadline = time.monotonic() + timeout
    while (found := feedback_count(daemon, kind)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{kind} feedback: {found}, expected {count}")
        await asyncio.sleep(0.2)
    assert found == count

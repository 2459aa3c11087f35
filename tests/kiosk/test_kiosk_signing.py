"""Signing an agreement at the kiosk end to end (Pilot, real daemon), the idle timeout, the language switch."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.daemon import PASSWORD, Daemon
from tests.kiosk.conftest import SIZE, choose_method, focus_on, on_screen, phone_answers, skip_feedback, text_of, until
from tillit.kiosk.app import KioskApp
from tillit.kiosk.screens.viewer import ViewerScreen
from tillit.phone.client import PhoneClient
from tillit.signer.sample_documents import agreement_pdf

pytestmark = [pytest.mark.tui, pytest.mark.integration, pytest.mark.anyio]


def queue_agreement(daemon: Daemon, number: str, title: str, folder: Path, pages: int = 3) -> None:
    path = folder / f"{title}.pdf"
    path.write_bytes(agreement_pdf(title, "Kari Nordmann", pages))
    daemon.run("tillit-signer", "agreements", "add", "--personal-number", number, "--title", title, str(path))


async def log_in(pilot, number: str, phone: PhoneClient, first: bool = True) -> None:
    """Number, Enter, (the first time: the app on the method screen), the phone approves, the password."""
    await pilot.press(*number, "enter")
    if first:
        await choose_method(pilot)
    await on_screen(pilot, "WaitingScreen")
    await phone_answers(phone)
    await on_screen(pilot, "PasswordScreen")
    await focus_on(pilot, "password")
    await pilot.press(*PASSWORD, "enter")
    await on_screen(pilot, "AgreementsScreen")


async def test_sign_an_agreement_end_to_end(
    make_app, customer: tuple[str, PhoneClient], daemon: Daemon, tmp_path: Path
) -> None:
    number, phone = customer
    queue_agreement(daemon, number, "Lånavtale", tmp_path, pages=4)
    queue_agreement(daemon, number, "Avtale om brukskonto", tmp_path, pages=2)
    app: KioskApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, number, phone)
        await until(pilot, lambda: len(app.screen.agreements) == 2, what="the agreements")  # type: ignore[attr-defined]
        await focus_on(pilot, "agreements")
        await pilot.press("enter")  # the first: Lånavtale
        await on_screen(pilot, "ViewerScreen")
        viewer = app.screen
        assert isinstance(viewer, ViewerScreen)
        await until(pilot, lambda: viewer.loaded, what="the agreement's text")
        assert "Avtale mellom Tillit Bank og Kari Nordmann" in text_of(pilot, "#text")
        assert not viewer.read_to_end
        await pilot.press("f2")  # not yet: the customer has not read it
        await pilot.pause(0.2)
        assert app.screen is viewer and app.order is None
        for _ in range(40):
            if viewer.read_to_end:
                break
            await pilot.press("pagedown")
        assert viewer.read_to_end
        assert "Side 4 av 4" in text_of(pilot, "#text")
        await pilot.press("f2")
        await on_screen(pilot, "WaitingScreen")
        request = await phone_answers(phone)
        assert request.kind == "sign" and request.documents[0]["name"] == "Lånavtale.pdf"
        await on_screen(pilot, "PasswordScreen")
        await focus_on(pilot, "password")
        await pilot.press(*PASSWORD, "enter")
        await on_screen(pilot, "ReceiptScreen", timeout=30)  # nothing over it: the feedback comes after it
        receipt = app.screen.receipt  # type: ignore[attr-defined]
        assert receipt.title == "Lånavtale"
        [signed] = receipt.files
        assert signed.path.parent == tmp_path / "signed"
        assert signed.path.name == f"{receipt.order_ref}-L_navtale.pdf"
        details = text_of(pilot, "#details")
        assert str(signed.path) in details and receipt.certificate_serial in details
        await pilot.press("enter")
        await skip_feedback(pilot, "AgreementsScreen")
        await until(pilot, lambda: len(app.screen.agreements) == 1, what="the signed one to leave")  # type: ignore[attr-defined]
        assert app.screen.agreements[0].title == "Avtale om brukskonto"  # type: ignore[attr-defined]
    report = subprocess.run(["pdfsig", str(signed.path)], capture_output=True, text=True).stdout
    assert "Signature #1" in report and "Kari Nordmann" in report, report


async def test_idle_returns_to_welcome_and_forgets(make_app, customer: tuple[str, PhoneClient], daemon: Daemon) -> None:
    number, phone = customer
    app: KioskApp = make_app(idle_seconds=2)
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, number, phone)
        assert app.session is not None
        token = app.session.token
        await on_screen(pilot, "WelcomeScreen", timeout=6)
        assert app.session is None and app.order is None
        assert "logged out" in text_of(pilot, "#notice")

        def ended() -> bool:
            headers = {"Authorization": f"Bearer {daemon.kiosk_token}", "X-Tillit-Session": token}
            r = httpx.get(daemon.url + "/v1/agreements", headers=headers)
            return r.status_code == 401

        await until(pilot, ended, what="DELETE /v1/session")


async def test_language_switch_on_welcome(make_app) -> None:
    app: KioskApp = make_app(language="nn")
    async with app.run_test(size=SIZE) as pilot:
        await on_screen(pilot, "WelcomeScreen")
        assert "Velkomen til Tillit Bank" in text_of(pilot, "#title")
        await pilot.press("f9")
        await until(pilot, lambda: "Velkommen til Tillit Bank" in text_of(pilot, "#title"), what="Bokmål")
        assert app.language == "nb"
        await pilot.press("f9")
        await until(pilot, lambda: "Welcome to Tillit Bank" in text_of(pilot, "#title"), what="English")

        def footer() -> str:
            return " ".join(str(key.description) for key in app.screen.query("FooterKey"))

        await until(pilot, lambda: "Language" in footer() and "Log in" in footer(), what="the footer in English")
        await pilot.press("1")  # the flow goes on in the chosen language
        await on_screen(pilot, "NumberScreen")
        assert "National identity number" in text_of(pilot, "#label")
        await pilot.press("escape")
        await on_screen(pilot, "WelcomeScreen")
        assert app.language == "en"  # the same customer, the language they chose
        await pilot.press("f9")
        await until(pilot, lambda: "Velkomen" in text_of(pilot, "#title"), what="Nynorsk again")

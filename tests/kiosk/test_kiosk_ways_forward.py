"""The customer at the kiosk is never stuck and never told something untrue (Pilot, 80x24).

Against the real daemon: a locked password without an app ends with the branch staff (and the staff's
command, run as shown, lets the customer in again); no app and no code device ends there too; the code
device's approval and the signing password are worded as what they are; F2 before the end of an agreement
says why; the feedback question comes once, never over the receipt; a demo password changed with F5
shows on the welcome screen; an English kiosk words the control questions (sent as codes) in English.
On a fake signer: the idle timeout clears a half-typed number quietly, and warns a logged-in customer.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.daemon import PASSWORD, Daemon, make_daemon
from tests.factories import fresh_adult
from tests.kiosk.conftest import (
    CONTROL_ANSWERS,
    SIZE,
    choose_method,
    enrol_with_answers,
    focus_on,
    footer_text,
    kiosk_settings,
    on_screen,
    phone_answers,
    text_of,
    until,
)
from tests.kiosk.fakes import CUSTOMER, FakeClient, clock
from tests.kiosk.test_kiosk_signing import log_in, queue_agreement
from tillit.hsm.otp import STEP_SECONDS
from tillit.kiosk.app import KioskApp
from tillit.kiosk.client import SignerClient
from tillit.kiosk.context import DemoInfo
from tillit.kiosk.screens.agreements import AgreementsScreen
from tillit.kiosk.state import Customer, DemoCustomer, Session
from tillit.phone.client import PhoneClient

pytestmark = [pytest.mark.tui, pytest.mark.anyio]
integration = pytest.mark.integration


@pytest.fixture(scope="module")
def locking_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A signer that locks the password after one wrong one: a code device gives three codes a minute,
    too few to get five wrong passwords in quickly."""
    d = make_daemon(tmp_path_factory.mktemp("locking-daemon") / "home", TILLIT_PASSWORD_ATTEMPTS="1")
    d.start()
    yield d
    d.stop()


async def log_in_with_code(pilot, number: str, code: str, password: str) -> None:
    await pilot.press(*number)
    await on_screen(pilot, "NumberScreen")
    await focus_on(pilot, "number")
    await pilot.press("f4")
    await choose_method(pilot, "codedevice")
    await on_screen(pilot, "CodeScreen")
    await focus_on(pilot, "code")
    await pilot.press(*code, "enter")
    await on_screen(pilot, "PasswordScreen")
    await focus_on(pilot, "password")
    await pilot.press(*password, "enter")


@integration
async def test_a_locked_password_without_an_app_ends_with_the_branch_staff(
    locking_daemon: Daemon, tmp_path: Path
) -> None:
    """Ola (code device, no app) locks his password. F5 cannot help (a new password is approved in the
    app): the kiosk says to ask the branch staff, never "log in with the code device" (which led back to
    the lock), and names the staff's command; run as shown, it lets Ola in again."""
    number = fresh_adult()
    locking_daemon.enrol(number, "Ola Nordmann")
    device = locking_daemon.issue_code_device(number, tmp_path)
    client = SignerClient(locking_daemon.url, locking_daemon.kiosk_token)
    app = KioskApp(kiosk_settings(output_dir=tmp_path / "signed"), client)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await log_in_with_code(pilot, number, device.code(), "Feil-Passord-1")
            await on_screen(pilot, "FailedScreen")
            assert "password is locked" in text_of(pilot, "#reason")
            await until(pilot, lambda: "Forgotten password" in footer_text(pilot), what="F5 in the footer")
            await pilot.press("f5")  # a new password: the app must approve it, and Ola has none
            await until(pilot, lambda: app.screen.kind == "reset", what="the reset's failure")  # type: ignore[attr-defined]
            reason = text_of(pilot, "#reason")
            assert "branch staff" in reason and "unlock your password" in reason, reason
            assert "code device" not in reason, reason  # the way that led back to the lock
            staff = text_of(pilot, "#staff")
            assert f"tillit-signer customers unlock {number}" in staff
            assert "Forgotten password" not in footer_text(pilot)

            command = staff.split(": ", 1)[1]
            locking_daemon.run(*shlex.split(command))  # the staff do what the kiosk says
            await pilot.press("enter")
            await on_screen(pilot, "WelcomeScreen")
            next_code = device.code(time.time() + STEP_SECONDS)  # the one just used is spent
            await log_in_with_code(pilot, number, next_code, PASSWORD)
            await on_screen(pilot, "AgreementsScreen")
    finally:
        client.close()


@integration
async def test_no_app_and_no_code_device_ends_with_a_way_forward(make_app, daemon: Daemon) -> None:
    """Emma's case: no app, no code device. Each refusal offers the other method (F4) and, for when
        neither works, the branch staff, who set BankID up, with their commands (the same words for a number
    that is no customer's: the kiosk does not tell them apart)."""
    number = fresh_adult()
    daemon.enrol(number, "Emma Nordmann")
    app: KioskApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*number, "enter")
        await choose_method(pilot, "app")
        await on_screen(pilot, "FailedScreen")
        assert "no active BankID app" in text_of(pilot, "#reason")
        assert "branch staff" in text_of(pilot, "#reason")
        assert "F4" in text_of(pilot, "#next")
        # Neither method? Not sent in circles: the staff set BankID up, and are shown how.
        assert "set up BankID" in text_of(pilot, "#reason")
        staff = text_of(pilot, "#staff")
        assert f"customers assign-codedevice {number} --serial SERIAL" in staff, staff
        assert f"customers show {number}" in staff and "customers add" in staff and "tillit-phone activate" in staff
        await until(pilot, lambda: "Other login" in footer_text(pilot), what="F4 in the footer")
        await pilot.press("f4")
        await choose_method(pilot, "codedevice")
        await on_screen(pilot, "FailedScreen")
        reason = text_of(pilot, "#reason")
        assert "no code device registered" in reason and "set up BankID" in reason, reason
        assert f"customers assign-codedevice {number} --serial SERIAL" in text_of(pilot, "#staff")


@integration
async def test_code_device_signing_wording_and_one_feedback_question(
    make_app, customer: tuple[str, PhoneClient], daemon: Daemon, tmp_path: Path
) -> None:
    """F2 before the end says why; the password step of a signature says "Sign"; the receipt is not
    covered; the feedback question comes once, after the receipt, and not again at logging out."""
    number, phone = customer
    queue_agreement(daemon, number, "Avtale om brukskonto", tmp_path, pages=3)
    app: KioskApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, number, phone)
        await until(pilot, lambda: len(app.screen.agreements) == 1, what="the agreement")  # type: ignore[attr-defined]
        await focus_on(pilot, "agreements")
        await pilot.press("enter")
        await on_screen(pilot, "ViewerScreen")
        await until(pilot, lambda: app.screen.loaded, what="the text")  # type: ignore[attr-defined]
        assert "Sign" in footer_text(pilot)
        await pilot.press("f2")  # not read yet: it says so
        await until(pilot, lambda: "to the end first" in text_of(pilot, "#status"), what="read to the end first")
        assert app.order is None
        await pilot.press("end")
        await until(pilot, lambda: app.screen.read_to_end, what="read to the end")  # type: ignore[attr-defined]
        await pilot.press("f2")
        await on_screen(pilot, "WaitingScreen")
        await phone_answers(phone)
        await on_screen(pilot, "PasswordScreen")
        await until(pilot, lambda: "Sign" in footer_text(pilot), what="Sign in the footer")
        assert "Log in" not in footer_text(pilot)
        assert "to sign" in text_of(pilot, ".lead")
        await focus_on(pilot, "password")
        await pilot.press(*PASSWORD, "enter")
        await on_screen(pilot, "ReceiptScreen", timeout=30)
        await pilot.pause(0.5)
        assert type(app.screen).__name__ == "ReceiptScreen"  # nothing over the receipt
        await pilot.press("enter")
        await on_screen(pilot, "FeedbackDialog")  # once the receipt has been seen
        await pilot.press("escape")
        await on_screen(pilot, "AgreementsScreen")
        await pilot.press("escape")  # log out: asked already
        await on_screen(pilot, "WelcomeScreen")
        await pilot.pause(0.5)
        assert type(app.screen).__name__ == "WelcomeScreen"


@integration
async def test_the_code_device_approval_is_not_called_the_app(locking_daemon: Daemon, tmp_path: Path) -> None:
    number = fresh_adult()
    locking_daemon.enrol(number, "Ola Nordmann")
    device = locking_daemon.issue_code_device(number, tmp_path)
    client = SignerClient(locking_daemon.url, locking_daemon.kiosk_token)
    app = KioskApp(kiosk_settings(language="nn", output_dir=tmp_path / "signed"), client)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press(*number)
            await on_screen(pilot, "NumberScreen")
            await focus_on(pilot, "number")
            await pilot.press("f4")
            await choose_method(pilot, "codedevice")
            await on_screen(pilot, "CodeScreen")
            await focus_on(pilot, "code")
            await pilot.press(*device.code(), "enter")
            await on_screen(pilot, "PasswordScreen")
            lead = text_of(pilot, ".lead")
            assert "Godkjend med kodebrikka" in lead and "appen" not in lead, lead
            assert "Logg inn" in footer_text(pilot)
    finally:
        client.close()


@integration
async def test_a_demo_password_changed_with_f5_shows_on_the_welcome_screen(make_app, daemon: Daemon) -> None:
    number = fresh_adult()
    enrol_with_answers(daemon, number)
    phone = daemon.add_device(number)
    new_password = "Havørn-Skjer-2026"
    app: KioskApp = make_app()
    app.demo = DemoInfo(customers=[DemoCustomer("Kari Nordmann", number, PASSWORD, "demo.note.app")])
    try:
        async with app.run_test(size=SIZE) as pilot:
            await on_screen(pilot, "WelcomeScreen")
            assert PASSWORD in text_of(pilot, "#demo")
            await pilot.press(*number)
            await on_screen(pilot, "NumberScreen")
            await focus_on(pilot, "number")
            await pilot.press("f5")
            await on_screen(pilot, "WaitingScreen")
            await phone_answers(phone)
            await on_screen(pilot, "ResetQuestionsScreen")
            for index, answer in enumerate(CONTROL_ANSWERS):
                await focus_on(pilot, f"answer-{index}")
                await pilot.press(*answer, "enter")
            await on_screen(pilot, "ResetPasswordScreen")
            await focus_on(pilot, "new")
            await pilot.press(*new_password, "enter")
            await focus_on(pilot, "repeat")
            await pilot.press(*new_password, "enter")
            await on_screen(pilot, "ResetDoneScreen")
            await pilot.press("escape")
            await on_screen(pilot, "WelcomeScreen")
            demo = text_of(pilot, "#demo")
            assert new_password in demo and PASSWORD not in demo, demo
    finally:
        phone.close()


@integration
async def test_an_english_kiosk_words_the_control_questions_in_english(make_app, daemon: Daemon) -> None:
    """The signer sends the questions as codes; the phone shows the kiosk's own (English) request text."""
    number = fresh_adult()
    enrol_with_answers(daemon, number)
    phone = daemon.add_device(number)
    app: KioskApp = make_app(language="en")
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press(*number)
            await on_screen(pilot, "NumberScreen")
            await focus_on(pilot, "number")
            await pilot.press("f5")
            await on_screen(pilot, "WaitingScreen")
            request = await phone_answers(phone)
            assert request.user_visible_data == "Choose a new password for BankID"
            await on_screen(pilot, "ResetQuestionsScreen")
            await until(pilot, lambda: len(app.screen.query(".question")) == 3, what="the questions")
            questions = [str(q.render()) for q in app.screen.query(".question")]
            assert questions == [
                "1. What was the name of your first pet?",
                "2. Which street did you live in as a child?",
                "3. What is your mother's middle name?",
            ]
            with httpx.Client(base_url=daemon.url, headers={"Authorization": f"Bearer {daemon.kiosk_token}"}) as http:
                assert app.order is not None
                wire = http.post("/v1/reset/questions", json={"orderRef": app.order.order_ref}).json()
            assert wire["questions"] == ["firstPet", "childhoodStreet", "mothersMiddleName"]
    finally:
        phone.close()


def fake_kiosk(**settings: object) -> KioskApp:
    return KioskApp(kiosk_settings(**settings), FakeClient(), clock=clock)


async def test_an_idle_half_typed_number_clears_without_a_logout() -> None:
    app = fake_kiosk(idle_seconds=1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"13897")
        await on_screen(pilot, "NumberScreen")
        await on_screen(pilot, "WelcomeScreen", timeout=5)
        assert not app.screen.query("#notice")  # nobody was logged in: nobody is told they were logged out
        assert not app.screen.query("IdleWarning")


async def test_a_logged_in_customer_is_warned_and_any_key_keeps_the_session() -> None:
    app = fake_kiosk(idle_seconds=3, idle_warning_seconds=1.5)
    async with app.run_test(size=SIZE) as pilot:
        app.session = Session(Customer.from_completion(CUSTOMER), "jwt.fake.token", "order-1")
        app.navigator.go(AgreementsScreen())
        await on_screen(pilot, "AgreementsScreen")
        await on_screen(pilot, "IdleWarning", timeout=5)
        assert "logged out in" in text_of(pilot, "#dialog-text")
        await pilot.press("escape")  # any key: here Escape, which must not log out as well
        await on_screen(pilot, "AgreementsScreen")
        assert app.session is not None
        await on_screen(pilot, "IdleWarning", timeout=5)  # idle again: warned again
        await on_screen(pilot, "WelcomeScreen", timeout=5)  # and then logged out, and told so
        assert app.session is None
        assert "logged out" in text_of(pilot, "#notice")

"""What a usability tester found driving the real demo under tmux, on a fake signer (Pilot): keys sent in
one burst keep their order in lists, the words that send nobody in circles, the code device's lock at
once, the customer's language kept until they leave, the feedback question that never takes the next
customer's typing, a window too small for the kiosk, and the smaller things a customer is told."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import pytest
from textual import events
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widgets import Input, Static

from tests.daemon import tool
from tests.kiosk.conftest import SIZE, footer_text, kiosk_settings, on_screen, text_of, until
from tests.kiosk.fakes import AGREEMENTS, CUSTOMER, NOW, NUMBER, FakeClient, clock
from tillit.kiosk.app import KioskApp
from tillit.kiosk.chrome import TooSmall
from tillit.kiosk.client import Agreement, SignerClient
from tillit.kiosk.context import DemoInfo
from tillit.kiosk.navigation import AskFeedback
from tillit.kiosk.screens.agreements import AgreementsScreen
from tillit.kiosk.screens.failed import SET_UP_COMMANDS, STAFF_COMMANDS
from tillit.kiosk.screens.receipt import ReceiptScreen, local_time
from tillit.kiosk.screens.waiting import WaitingScreen
from tillit.kiosk.state import Customer, Order, Receipt, Session, SignedFile
from tillit.signer.cli import main as signer_cli
from tillit.signer.wire import CollectResponse, CompletionData

pytestmark = [pytest.mark.tui, pytest.mark.anyio]


def kiosk(client: SignerClient | None = None, **settings: Any) -> KioskApp:
    return KioskApp(kiosk_settings(**settings), client or FakeClient(), clock=clock)


async def burst(pilot: Pilot[Any], *keys: str) -> None:
    """Keys sent in one go, as `tmux send-keys Down Enter` does: no pause for the app between them
    (Pilot's `press` lets the app settle after each key)."""
    for key in keys:
        character = "\r" if key == "enter" else key if len(key) == 1 else None
        pilot.app.post_message(events.Key(key, character))
    await pilot.pause()


async def test_down_and_enter_in_one_burst_choose_the_second_method() -> None:
    client = FakeClient()
    client.remembered = None  # no remembered method: the method screen
    app = kiosk(client)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*NUMBER, "enter")
        await on_screen(pilot, "MethodScreen")
        await burst(pilot, "down", "enter")
        await on_screen(pilot, "CodeScreen")  # the code device, not the app


def logged_in(app: KioskApp, token: str = "jwt.fake.token") -> None:  # noqa: S107 (a fake session token)
    app.session = Session(Customer.from_completion(CUSTOMER), token, "order-1")


def notified(app: KioskApp, text: str) -> bool:
    return any(text in str(n.message) for n in app._notifications)


async def test_down_and_enter_in_one_burst_open_the_second_agreement() -> None:
    app = kiosk()
    async with app.run_test(size=SIZE) as pilot:
        logged_in(app)
        app.navigator.go(AgreementsScreen())
        await on_screen(pilot, "AgreementsScreen")
        await until(pilot, lambda: len(app.screen.agreements) == 2, what="the agreements")  # type: ignore[attr-defined]
        await burst(pilot, "down", "enter")
        await on_screen(pilot, "ViewerScreen")
        assert app.screen.agreement.id == AGREEMENTS[1].id  # type: ignore[attr-defined]


def test_every_staff_command_the_kiosk_shows_is_one_the_cli_takes() -> None:
    """Each command on the failure screen parses with `tillit-signer` as it is (a missing `--serial`
    was refused at the counter)."""
    commands = [*STAFF_COMMANDS.values(), *SET_UP_COMMANDS.values()]
    for command in commands:
        words = command.format(number=NUMBER).replace("…", "--name N --mobile +4790000000 --email e@x.no").split()
        program, args = words[0], words[1:]
        if program == "tillit-phone":
            assert args == ["activate"], command
            continue
        assert program == "tillit-signer", command
        group: click.Group = signer_cli
        while isinstance(group, click.Group):
            name, args = args[0], args[1:]
            found = group.get_command(click.Context(group), name)
            assert found is not None, command
            group = found  # type: ignore[assignment]
        group.make_context(name, list(args))  # raises on a missing option or argument


async def test_no_code_attempts_left_says_so_at_once() -> None:
    class LastCode(FakeClient):
        def code(self, order_ref: str, code: str) -> CollectResponse:
            return self._response("pending", "wrongCode", attemptsLeft=0)

    client = LastCode()
    client.remembered = "codedevice"
    app = kiosk(client, language="nn")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*NUMBER, "enter")
        await on_screen(pilot, "CodeScreen")
        assert app.screen.query_one("#code", Input).placeholder == "6 siffer"
        await pilot.press(*"123456", "enter")
        await until(pilot, lambda: "For mange feil kodar" in text_of(pilot, "#status"), what="the lock")
        assert "0 forsøk" not in text_of(pilot, "#status")


async def test_the_language_stays_when_the_customer_cancels() -> None:
    app = kiosk(language="nn")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f9", "f9")  # Bokmål, English
        await until(pilot, lambda: app.language == "en", what="English")
        await pilot.press(*NUMBER, "enter")
        await on_screen(pilot, "WaitingScreen")
        await pilot.press("escape")
        await on_screen(pilot, "WelcomeScreen")
        assert app.language == "en" and "Welcome" in text_of(pilot, "#title")


async def test_logged_out_for_idleness_in_their_own_language_then_the_default() -> None:
    app = kiosk(language="nn", idle_seconds=2, idle_warning_seconds=0)
    async with app.run_test(size=SIZE) as pilot:
        app.language = "en"
        logged_in(app)
        app.navigator.go(AgreementsScreen())
        await on_screen(pilot, "AgreementsScreen")
        await on_screen(pilot, "WelcomeScreen", timeout=10)  # idle: logged out
        assert "You have been logged out" in text_of(pilot, "#notice")

        # Nobody there: the welcome screen goes back to the kiosk's language for the next person.
        def fresh() -> bool:
            screen = app.screen
            titles = screen.query("#title") if screen.is_mounted else []
            return app.language == "nn" and any("Velkomen" in str(t.render()) for t in titles)

        await until(pilot, fresh, timeout=10, what="a fresh welcome screen")
        assert "Velkomen" in text_of(pilot, "#title") and not app.screen.query("#notice")


async def test_the_next_customers_number_closes_the_feedback_question() -> None:
    """The question over the welcome screen after a logout: the next person's number is not a rating,
    and their Enter does not send one; the number and the Enter reach the login."""
    client = FakeClient()
    app = kiosk(client)
    async with app.run_test(size=SIZE) as pilot:
        logged_in(app)
        app.navigator.go(AgreementsScreen())
        await on_screen(pilot, "AgreementsScreen")
        await pilot.press("escape")  # log out
        await on_screen(pilot, "FeedbackDialog")
        await pilot.press(*NUMBER, "enter")
        await on_screen(pilot, "WaitingScreen")
        assert ("auth", NUMBER) in client.calls
        assert not [call for call in client.calls if call[0] == "feedback"]


async def test_the_feedback_question_left_alone_closes_itself() -> None:
    app = kiosk(idle_seconds=2)
    async with app.run_test(size=SIZE) as pilot:
        app.navigator.navigate(AskFeedback("order-1"))
        await on_screen(pilot, "FeedbackDialog")
        await on_screen(pilot, "WelcomeScreen", timeout=10)


async def test_feedback_is_asked_once_per_customer_and_thanked() -> None:
    client = FakeClient()
    app = kiosk(client)
    async with app.run_test(size=SIZE) as pilot:
        for token in ("jwt.first", "jwt.second"):  # the same customer logs in twice
            app.navigator.logged_in(Order("auth", "app", NUMBER, "order-1", "X", 0), completion(token))
            await on_screen(pilot, "AgreementsScreen")
            await pilot.press("escape")  # log out
            await until(pilot, lambda: type(app.screen).__name__ in ("FeedbackDialog", "WelcomeScreen"))
            if token == "jwt.first":
                await on_screen(pilot, "FeedbackDialog")
                await pilot.press("4", "enter")
                await on_screen(pilot, "WelcomeScreen")
                assert notified(app, "Thank you for your feedback")
        await pilot.pause(0.3)
        assert type(app.screen).__name__ == "WelcomeScreen"  # not asked again
        assert [call[0] for call in client.calls].count("feedback") == 1


def completion(token: str) -> CompletionData:
    return CompletionData(customer=CUSTOMER, token=token, level="high")


@pytest.mark.parametrize("size", [(59, 24), (80, 19), (50, 15)])
async def test_a_window_too_small_says_so(size: tuple[int, int]) -> None:
    app = kiosk()
    async with app.run_test(size=size) as pilot:
        await on_screen(pilot, "WelcomeScreen")
        notice = app.screen.query_one(TooSmall)
        assert notice.display and "at least 60x20" in str(notice.render())
        assert not app.screen.query_one("#frame").display
        await pilot.press("f12")  # dialogs too
        await on_screen(pilot, "AdminDialog")
        assert app.screen.query_one(TooSmall).display and not app.screen.query_one("#box").display


async def test_a_window_big_enough_shows_no_notice() -> None:
    app = kiosk()
    async with app.run_test(size=(60, 20)) as pilot:
        await on_screen(pilot, "WelcomeScreen")
        assert not app.screen.query_one(TooSmall).display and app.screen.query_one("#frame").display


async def test_no_agreements_says_only_that() -> None:
    class NoAgreements(FakeClient):
        def agreements(self, session_token: str) -> list[Agreement]:
            return []

    app = kiosk(NoAgreements())
    async with app.run_test(size=SIZE) as pilot:
        logged_in(app)
        app.navigator.go(AgreementsScreen())
        await on_screen(pilot, "AgreementsScreen")
        await until(pilot, lambda: "No agreements" in text_of(pilot, "#status"), what="the empty list")
        assert not app.screen.query_one("#lead").display and not app.screen.query_one("#agreements").display
        await pilot.pause(0.1)
        assert "Open" not in footer_text(pilot) and "Log out" in footer_text(pilot)


async def test_f4_has_one_name_everywhere() -> None:
    app = kiosk(language="nn")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        await on_screen(pilot, "NumberScreen")
        await until(pilot, lambda: "Anna innlogging" in footer_text(pilot), what="F4 on the number screen")
        await pilot.press(*NUMBER[1:], "enter")
        await on_screen(pilot, "WaitingScreen")  # the remembered app
        await until(pilot, lambda: "Anna innlogging" in footer_text(pilot), what="F4 while waiting")


def test_the_receipt_time_is_the_branchs_local_time() -> None:
    winter = datetime(2026, 12, 6, 4, 15, 5, tzinfo=UTC).timestamp()
    assert local_time(winter, ZoneInfo("Europe/Oslo")) == "2026-12-06 05:15:05 CET (UTC+01:00)"
    assert local_time(winter, ZoneInfo("UTC")) == "2026-12-06 04:15:05 UTC"
    assert kiosk_settings().time_zone == "Europe/Oslo"


async def test_cancelling_a_signing_says_nothing_was_signed() -> None:
    app = kiosk()
    async with app.run_test(size=SIZE) as pilot:
        logged_in(app)
        order = Order("sign", "app", NUMBER, "order-1", "GRØN BØLGJE", NOW + 180, agreement=AGREEMENTS[0])
        app.order = order
        app.navigator.go(WaitingScreen(order))
        await on_screen(pilot, "WaitingScreen")
        await pilot.press("escape")
        await on_screen(pilot, "AgreementsScreen")
        assert notified(app, "Nothing was signed")


async def test_three_wrong_admin_pins_say_why_the_dialog_closed() -> None:
    app = kiosk(admin_pin="4321")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f12")
        for _ in range(3):
            await on_screen(pilot, "AdminDialog")
            await pilot.press(*"1111", "enter")
            await pilot.pause(0.05)
        await on_screen(pilot, "WelcomeScreen")
        assert notified(app, "Wrong PIN three times") and app.is_running


def run_kiosk(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "home"
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "TILLIT_HOME": str(home), **env}
    return subprocess.run(
        [tool("tillit-kiosk"), *args], capture_output=True, text=True, env=environment, timeout=60, check=False
    )


def refused(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """One line on stderr, `tillit-kiosk: …`, a non-zero exit, no traceback, no UI started."""
    assert result.returncode != 0, result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tillit-kiosk: "), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_cli_refuses_a_signer_url_that_is_no_url(tmp_path: Path) -> None:
    token = tmp_path / "kiosk.token"
    token.write_text("tk_example\n")
    refused(run_kiosk(tmp_path, "--signer-url", "notaurl", "--token-file", str(token)), "http://", "notaurl")


def test_cli_refuses_a_token_file_that_is_not_text(tmp_path: Path) -> None:
    token = tmp_path / "kiosk.token"
    token.write_bytes(bytes(range(128, 256)))
    refused(run_kiosk(tmp_path, "--token-file", str(token)), str(token), "not a text file")


def test_cli_refuses_a_port_that_is_no_port(tmp_path: Path) -> None:
    refused(run_kiosk(tmp_path, "demo", "--port", "99999"), "99999", "1-65535")
    refused(run_kiosk(tmp_path, "demo", TILLIT_KIOSK_DEMO_PORT="soon"), "TILLIT_KIOSK_DEMO_PORT", "1-65535")
    assert not (tmp_path / "home").exists()  # nothing prepared


def test_cli_says_which_program_has_no_token(tmp_path: Path) -> None:
    refused(run_kiosk(tmp_path), "no kiosk token")


async def test_the_welcome_screen_names_every_language_in_its_own_words() -> None:
    """Someone who reads no Norwegian finds "English" and F9 on the Nynorsk welcome screen."""
    app = kiosk(language="nn")
    async with app.run_test(size=SIZE) as pilot:
        await on_screen(pilot, "WelcomeScreen")
        line = text_of(pilot, "#language")
        assert all(name in line for name in ("Nynorsk", "Bokmål", "English", "Language", "F9"))


async def test_the_receipt_details_scroll_with_the_keys_beside_the_demo_phone() -> None:
    """At 80x24 beside the demo's phone the details do not fit: the arrows and End scroll them, Enter goes on."""
    app = KioskApp(
        kiosk_settings(language="nn"),
        FakeClient(),
        clock=clock,
        demo=DemoInfo(side_panels=lambda: [Static("(the phone)", classes="side")]),
    )
    async with app.run_test(size=SIZE) as pilot:
        logged_in(app)
        path = Path("/home/kari/.local/share/tillit-demo/signed/d58f3093-dcd3-495a-83de-5b2e2784d39c-laanavtale.pdf")
        signed = Receipt(
            "Lånavtale",
            "order-1",
            "DJUP VIK",
            NOW,
            "Kari Nordmann",
            "654b" * 8,
            [SignedFile("laanavtale.pdf", path, "22" * 32, "pades")],
        )
        app.navigator.go(ReceiptScreen(signed))
        await on_screen(pilot, "ReceiptScreen")
        details = app.screen.query_one("#details-scroll", VerticalScroll)
        assert details.max_scroll_y > 0 and app.focused is details
        await pilot.press("end")
        await until(pilot, lambda: details.scroll_y == details.max_scroll_y, what="the details to scroll")
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ in ("FeedbackDialog", "AgreementsScreen"))

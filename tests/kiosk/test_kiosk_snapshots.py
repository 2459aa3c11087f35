"""Every kiosk screen and dialog at 80x24, against a fake signer with fixed data and a fixed clock.

Update after a deliberate change: pytest tests/kiosk/test_kiosk_snapshots.py --snapshot-update
(then look at snapshot_report.html or the SVGs before committing them).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Static

import tillit.kiosk.app as kiosk_app
from tests.kiosk.conftest import kiosk_settings, until
from tests.kiosk.fakes import AGREEMENTS, CUSTOMER, NOW, NUMBER, QUESTIONS, FakeClient, clock
from tillit.kiosk.app import KioskApp
from tillit.kiosk.context import DemoInfo
from tillit.kiosk.client import BlockUnavailable
from tillit.kiosk.screens.agreements import AgreementsScreen
from tillit.kiosk.screens.block import BlockScreen
from tillit.kiosk.screens.code import CodeScreen
from tillit.kiosk.screens.failed import FailedScreen
from tillit.kiosk.screens.method import MethodScreen
from tillit.kiosk.screens.number import NumberScreen
from tillit.kiosk.screens.password import PasswordScreen
from tillit.kiosk.screens.receipt import ReceiptScreen
from tillit.kiosk.screens.reset_done import ResetDoneScreen
from tillit.kiosk.screens.reset_password import ResetPasswordScreen
from tillit.kiosk.screens.reset_questions import ResetQuestionsScreen
from tillit.kiosk.screens.signing import SigningScreen
from tillit.kiosk.screens.viewer import ViewerScreen
from tillit.kiosk.screens.waiting import WaitingScreen
from tillit.kiosk.state import Customer, DemoCustomer, Order, Receipt, Session, SignedFile

pytestmark = pytest.mark.tui

SIZE = (80, 24)
Step = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receipt shows local time; the snapshots are taken in UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


class SteadyCursorKioskApp(KioskApp):
    """The kiosk with the text cursor always shown: it blinks off half a second after a field
    gains focus, which on a loaded machine can come before the screenshot does."""

    CSS_PATH = Path(kiosk_app.__file__).with_name("app.tcss")  # a relative path would be read from tests/

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if isinstance(event.widget, Input):
            event.widget.cursor_blink = False


def kiosk(language: str = "en", demo: DemoInfo | None = None, **settings: Any) -> KioskApp:
    settings.setdefault("hint_after_seconds", 5)
    return SteadyCursorKioskApp(kiosk_settings(language=language, **settings), FakeClient(), demo=demo, clock=clock)


def logged_in(app: KioskApp) -> None:
    app.session = Session(Customer.from_completion(CUSTOMER), "jwt.fake.token")


def order(app: KioskApp, kind: str = "auth", method: str = "app", remembered: bool = False) -> Order:
    agreement = AGREEMENTS[0] if kind == "sign" else None
    app.order = Order(kind, method, NUMBER, "order-1", "BLÅ FJORD", NOW + 151, agreement, remembered)  # type: ignore[arg-type]
    return app.order


def show(make: Callable[[KioskApp], Any], then: Step | None = None) -> Step:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, KioskApp)
        screen = make(app)
        app.navigator.go(screen)
        await until(pilot, lambda: screen in app.screen_stack and screen.is_mounted)  # a dialog may be on top
        await pilot.pause()
        if then is not None:
            await then(pilot)

    return run_before


def test_welcome_nynorsk(snap_compare: Any) -> None:
    assert snap_compare(kiosk("nn"), terminal_size=SIZE)


def test_welcome_english_after_f9(snap_compare: Any) -> None:
    assert snap_compare(kiosk("nb"), press=["f9"], terminal_size=SIZE)


def test_welcome_demo(snap_compare: Any) -> None:
    demo = DemoInfo(
        customers=[
            DemoCustomer("Kari Nordmann", "13897248098", "Fjord-Hest-2024", "app on the phone →"),
            DemoCustomer("Ola Nordmann", "02838512340", "Skog-Elg-2024", "code device, no app"),
        ],
        admin_pin="0000",
        side_panels=lambda: [Static("(the phone)", classes="side")],
    )
    assert snap_compare(kiosk("en", demo=demo), terminal_size=SIZE)


def test_number_as_typed(snap_compare: Any) -> None:
    assert snap_compare(kiosk(), press=list("138972"), terminal_size=SIZE)


def test_number_wrong_check_digits(snap_compare: Any) -> None:
    assert snap_compare(kiosk(), press=list("13897248099"), terminal_size=SIZE)


def test_method(snap_compare: Any) -> None:
    assert snap_compare(kiosk(), run_before=show(lambda app: MethodScreen(NUMBER)), terminal_size=SIZE)


def waiting(app: KioskApp) -> WaitingScreen:
    return WaitingScreen(order(app))


def test_waiting_for_the_app(snap_compare: Any) -> None:
    assert snap_compare(kiosk(), run_before=show(waiting), terminal_size=SIZE)


def test_waiting_no_response_hint(snap_compare: Any) -> None:
    assert snap_compare(kiosk(hint_after_seconds=0), run_before=show(waiting), terminal_size=SIZE)


def test_waiting_remembered_method(snap_compare: Any) -> None:
    """Straight to the remembered app: F4 "Vel annan BankID" in the footer (Nynorsk)."""

    def make(app: KioskApp) -> WaitingScreen:
        return WaitingScreen(order(app, remembered=True))

    assert snap_compare(kiosk("nn"), run_before=show(make), terminal_size=SIZE)


def test_code_device_wrong_code(snap_compare: Any) -> None:
    def make(app: KioskApp) -> CodeScreen:
        return CodeScreen(order(app, method="codedevice"))

    async def wrong(pilot: Pilot[Any]) -> None:
        await pilot.press(*"123456", "enter")
        await until(pilot, lambda: "Wrong code" in str(pilot.app.screen.query_one("#status", Static).render()))

    assert snap_compare(kiosk(), run_before=show(make, wrong), terminal_size=SIZE)


def test_password_wrong(snap_compare: Any) -> None:
    def make(app: KioskApp) -> PasswordScreen:
        return PasswordScreen(order(app), attempts_left=4)

    assert snap_compare(kiosk(), run_before=show(make), terminal_size=SIZE)


def test_password_biometric_not_turned_on(snap_compare: Any) -> None:
    def make(app: KioskApp) -> PasswordScreen:
        return PasswordScreen(order(app, method="biometric"), note="password.no_biometric")

    assert snap_compare(kiosk(), run_before=show(make), terminal_size=SIZE)


def test_agreements(snap_compare: Any) -> None:
    def make(app: KioskApp) -> AgreementsScreen:
        logged_in(app)
        return AgreementsScreen()

    async def loaded(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: bool(pilot.app.screen.agreements))  # type: ignore[attr-defined]

    assert snap_compare(kiosk(), run_before=show(make, loaded), terminal_size=SIZE)


def viewer(app: KioskApp) -> ViewerScreen:
    logged_in(app)
    return ViewerScreen(AGREEMENTS[0])


async def viewer_loaded(pilot: Pilot[Any]) -> None:
    await until(pilot, lambda: pilot.app.screen.loaded)  # type: ignore[attr-defined]


def test_viewer(snap_compare: Any) -> None:
    assert snap_compare(kiosk(), run_before=show(viewer, viewer_loaded), terminal_size=SIZE)


def test_viewer_read_to_the_end(snap_compare: Any) -> None:
    async def to_the_end(pilot: Pilot[Any]) -> None:
        await viewer_loaded(pilot)
        await pilot.press("end")
        await until(pilot, lambda: pilot.app.screen.read_to_end)  # type: ignore[attr-defined]

    assert snap_compare(kiosk(), run_before=show(viewer, to_the_end), terminal_size=SIZE)


def test_viewer_read_to_the_end_beside_the_demo_phone(snap_compare: Any) -> None:
    """At 80 columns with the demo's phone beside it, the Nynorsk hint wraps: both lines show."""

    async def to_the_end(pilot: Pilot[Any]) -> None:
        await viewer_loaded(pilot)
        await pilot.press("end")
        await until(pilot, lambda: pilot.app.screen.read_to_end)  # type: ignore[attr-defined]

    demo = DemoInfo(side_panels=lambda: [Static("(the phone)", classes="side")])
    assert snap_compare(kiosk("nn", demo=demo), run_before=show(viewer, to_the_end), terminal_size=SIZE)


def test_signing(snap_compare: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SigningScreen, "sign", lambda self, order, password: None)

    def make(app: KioskApp) -> SigningScreen:
        logged_in(app)
        return SigningScreen(order(app, kind="sign"), "Fjord-Hest-2024")

    assert snap_compare(kiosk(), run_before=show(make), terminal_size=SIZE)


def receipt(app: KioskApp) -> ReceiptScreen:
    logged_in(app)
    path = Path("/var/lib/tillit/signed/order-1-laanavtale.pdf")
    files = [SignedFile("laanavtale.pdf", path, "0f" * 32, "pades")]
    signed = Receipt("Lånavtale for bustadlån", "order-1", "GRØN BØLGJE", NOW, "Kari Nordmann", "4f2a9c1d7e", files)
    return ReceiptScreen(signed)


def test_receipt(snap_compare: Any) -> None:
    """Nothing covers it: the feedback question comes after it."""
    assert snap_compare(kiosk(), run_before=show(receipt), terminal_size=SIZE)


def test_feedback_dialog(snap_compare: Any) -> None:
    """After the receipt, over the agreements, in Nynorsk: four stars and a comment typed."""

    async def rate(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: type(pilot.app.screen).__name__ == "FeedbackDialog")
        await pilot.press("4", "down", *"Lett å bruke")
        await until(pilot, lambda: "Lett å bruke" in pilot.app.screen.query_one("#comment", Input).value)

    def after_the_receipt(app: KioskApp) -> AgreementsScreen:
        logged_in(app)
        return AgreementsScreen(feedback_for="order-1")

    assert snap_compare(kiosk("nn"), run_before=show(after_the_receipt, rate), terminal_size=SIZE)


@pytest.mark.parametrize("hint", ["userCancel", "passwordLocked", "alreadyInProgress", "noControlQuestions"])
def test_failed(snap_compare: Any, hint: str) -> None:
    """A locked password offers F5 (forgotten password); no control questions sends the customer to the counter."""
    make = show(lambda app: FailedScreen(hint, number=NUMBER))
    assert snap_compare(kiosk(), run_before=make, terminal_size=SIZE)


def test_reset_waiting(snap_compare: Any) -> None:
    def make(app: KioskApp) -> WaitingScreen:
        return WaitingScreen(order(app, kind="reset"))

    assert snap_compare(kiosk(), run_before=show(make), terminal_size=SIZE)


def test_reset_questions(snap_compare: Any) -> None:
    """The control questions from the signer, one field each (Nynorsk, the first answered)."""

    def make(app: KioskApp) -> ResetQuestionsScreen:
        return ResetQuestionsScreen(order(app, kind="reset"))

    async def answer(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: bool(pilot.app.screen.query("#answer-2")))
        await until(pilot, lambda: getattr(pilot.app.focused, "id", None) == "answer-0")
        await pilot.press(*"Pusen", "enter")
        await until(pilot, lambda: getattr(pilot.app.focused, "id", None) == "answer-1")

    assert snap_compare(kiosk("nn"), run_before=show(make, answer), terminal_size=SIZE)


def test_reset_new_password_refused(snap_compare: Any) -> None:
    """The new password twice; the signer's policy reason in the customer's words."""

    def make(app: KioskApp) -> ResetPasswordScreen:
        return ResetPasswordScreen(order(app, kind="reset"), QUESTIONS, ["Pusen", "Strandgata", "Ingrid"])

    async def too_short(pilot: Pilot[Any]) -> None:
        await pilot.press(*"kort", "enter", *"kort", "enter")
        await until(pilot, lambda: "at least 8" in str(pilot.app.screen.query_one("#status", Static).render()))

    assert snap_compare(kiosk(), run_before=show(make, too_short), terminal_size=SIZE)


def test_reset_done(snap_compare: Any) -> None:
    assert snap_compare(kiosk(), run_before=show(lambda app: ResetDoneScreen(NUMBER)), terminal_size=SIZE)


def test_block(snap_compare: Any) -> None:
    assert snap_compare(kiosk(), run_before=show(lambda app: BlockScreen(NUMBER)), terminal_size=SIZE)


def test_block_confirm_dialog(snap_compare: Any) -> None:
    assert snap_compare(kiosk(), run_before=show(lambda app: BlockScreen(NUMBER)), press=["enter"], terminal_size=SIZE)


def test_block_not_available(snap_compare: Any) -> None:
    app = kiosk()

    def unavailable(number: str, order_ref: str | None = None) -> None:
        raise BlockUnavailable(404, "httpError", "Not Found")

    app.client.block = unavailable  # type: ignore[method-assign]

    async def confirm(pilot: Pilot[Any]) -> None:
        await pilot.press("enter")
        await until(pilot, lambda: type(pilot.app.screen).__name__ == "ConfirmDialog")
        await pilot.press("enter")
        await until(pilot, lambda: "not available" in str(pilot.app.screen.query_one("#status", Static).render()))

    assert snap_compare(app, run_before=show(lambda app: BlockScreen(NUMBER), confirm), terminal_size=SIZE)


def test_error_dialog(snap_compare: Any) -> None:
    async def fail(pilot: Pilot[Any]) -> None:
        from tillit.kiosk.client import SignerError

        app = pilot.app
        assert isinstance(app, KioskApp)
        app.navigator.show_error(SignerError(0, "unreachable", "connection refused"))
        await until(pilot, lambda: type(app.screen).__name__ == "MessageDialog")

    assert snap_compare(kiosk(), run_before=show(lambda app: NumberScreen(NUMBER), fail), terminal_size=SIZE)


def test_error_dialog_in_customer_words(snap_compare: Any) -> None:
    """A signer error code that is not a hint code, in the customer's words (Nynorsk), not the signer's reason."""

    async def fail(pilot: Pilot[Any]) -> None:
        from tillit.kiosk.client import SignerError

        app = pilot.app
        assert isinstance(app, KioskApp)
        app.navigator.show_error(SignerError(429, "rateLimited", "too many requests for this personal number"))
        await until(pilot, lambda: type(app.screen).__name__ == "MessageDialog")

    assert snap_compare(kiosk("nn"), run_before=show(lambda app: NumberScreen(NUMBER), fail), terminal_size=SIZE)


def test_admin_dialog(snap_compare: Any) -> None:
    assert snap_compare(kiosk(), press=["f12", *"12", "enter"], terminal_size=SIZE)

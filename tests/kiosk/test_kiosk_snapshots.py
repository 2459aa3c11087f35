"""Every kiosk screen and dialog at 60x20, 80x24 and 120x40, against a fake signer with fixed data and a
fixed clock: a snapshot of each, and a check that what the customer needs is shown whole (each part of
the screen's body or the dialog's box, and each key in the footer), not cut by an edge.

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
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Input, Static

import tillit.kiosk.app as kiosk_app
from tests.kiosk.conftest import kiosk_settings, until
from tests.kiosk.fakes import AGREEMENTS, CUSTOMER, NOW, NUMBER, QUESTIONS, FakeClient, clock
from tillit.kiosk.app import KioskApp
from tillit.kiosk.client import BlockUnavailable
from tillit.kiosk.context import DemoInfo
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

SIZES = [(60, 20), (80, 24), (120, 40)]
Step = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.fixture(params=SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def size(request: pytest.FixtureRequest) -> tuple[int, int]:
    """Each snapshot at the three terminal sizes a kiosk (or the demo in a terminal) may have."""
    size: tuple[int, int] = request.param
    return size


def shown_whole(widget: Widget) -> bool:
    """Whether the whole widget is on the screen: not clipped by a container or the screen's edge."""
    geometry = widget.screen.find_widget(widget)
    return geometry.region.area > 0 and geometry.visible_region == geometry.region


def cut_off(pilot: Pilot[Any]) -> list[str]:
    """The parts of the current screen (or dialog) the customer cannot see whole: its body's or box's
    parts that have something to show, and the keys in the footer."""
    screen = pilot.app.screen
    parts = screen.query("#box > *") if isinstance(screen, ModalScreen) else screen.query("#body > *")
    needed = [w for w in parts if w.display and not (isinstance(w, Static) and not str(w.render()).strip())]
    needed += list(screen.query("FooterKey"))
    return [f"{type(w).__name__}#{w.id or ''}: {str(w.render())[:40]!r}" for w in needed if not shown_whole(w)]


def snapshot(
    snap_compare: Any, app: KioskApp, size: tuple[int, int], run_before: Step | None = None, press: tuple[str, ...] = ()
) -> None:
    """The snapshot at `size` after `run_before` and the keys `press`; nothing needed is cut off."""
    cut: list[str] = []

    async def prepare(pilot: Pilot[Any]) -> None:
        if run_before is not None:
            await run_before(pilot)
        await pilot.press(*press)
        await pilot.pause()
        cut.extend(cut_off(pilot))

    assert snap_compare(app, terminal_size=size, run_before=prepare)
    assert not cut, f"cut off at {size[0]}x{size[1]}: {cut}"


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


def test_welcome_nynorsk(snap_compare: Any, size: tuple[int, int]) -> None:
    snapshot(snap_compare, kiosk("nn"), size)


def test_welcome_english_after_f9(snap_compare: Any, size: tuple[int, int]) -> None:
    snapshot(snap_compare, kiosk("nb"), size, press=("f9",))


def test_welcome_demo(snap_compare: Any, size: tuple[int, int]) -> None:
    demo = DemoInfo(
        customers=[
            DemoCustomer("Kari Nordmann", "13897248098", "Fjord-Hest-2024", "app on the phone →"),
            DemoCustomer("Ola Nordmann", "02838512340", "Skog-Elg-2024", "code device, no app"),
        ],
        admin_pin="0000",
        side_panels=lambda: [Static("(the phone)", classes="side")],
    )
    snapshot(snap_compare, kiosk("en", demo=demo), size)


def test_number_as_typed(snap_compare: Any, size: tuple[int, int]) -> None:
    snapshot(snap_compare, kiosk(), size, press=tuple("138972"))


def test_number_wrong_check_digits(snap_compare: Any, size: tuple[int, int]) -> None:
    snapshot(snap_compare, kiosk(), size, press=tuple("13897248099"))


def test_method(snap_compare: Any, size: tuple[int, int]) -> None:
    snapshot(snap_compare, kiosk(), size, run_before=show(lambda app: MethodScreen(NUMBER)))


def waiting(app: KioskApp) -> WaitingScreen:
    return WaitingScreen(order(app))


def test_waiting_for_the_app(snap_compare: Any, size: tuple[int, int]) -> None:
    snapshot(snap_compare, kiosk(), size, run_before=show(waiting))


def test_waiting_no_response_hint(snap_compare: Any, size: tuple[int, int]) -> None:
    snapshot(snap_compare, kiosk(hint_after_seconds=0), size, run_before=show(waiting))


def test_waiting_remembered_method(snap_compare: Any, size: tuple[int, int]) -> None:
    """Straight to the remembered app: F4 "Anna innlogging" in the footer (Nynorsk)."""

    def make(app: KioskApp) -> WaitingScreen:
        return WaitingScreen(order(app, remembered=True))

    snapshot(snap_compare, kiosk("nn"), size, run_before=show(make))


def test_code_device_wrong_code(snap_compare: Any, size: tuple[int, int]) -> None:
    def make(app: KioskApp) -> CodeScreen:
        return CodeScreen(order(app, method="codedevice"))

    async def wrong(pilot: Pilot[Any]) -> None:
        await pilot.press(*"123456", "enter")
        await until(pilot, lambda: "Wrong code" in str(pilot.app.screen.query_one("#status", Static).render()))

    snapshot(snap_compare, kiosk(), size, run_before=show(make, wrong))


def test_password_wrong(snap_compare: Any, size: tuple[int, int]) -> None:
    def make(app: KioskApp) -> PasswordScreen:
        return PasswordScreen(order(app), attempts_left=4)

    snapshot(snap_compare, kiosk(), size, run_before=show(make))


def test_password_biometric_not_turned_on(snap_compare: Any, size: tuple[int, int]) -> None:
    def make(app: KioskApp) -> PasswordScreen:
        return PasswordScreen(order(app, method="biometric"), note="password.no_biometric")

    snapshot(snap_compare, kiosk(), size, run_before=show(make))


def test_agreements(snap_compare: Any, size: tuple[int, int]) -> None:
    def make(app: KioskApp) -> AgreementsScreen:
        logged_in(app)
        return AgreementsScreen()

    async def loaded(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: bool(pilot.app.screen.agreements))  # type: ignore[attr-defined]

    snapshot(snap_compare, kiosk(), size, run_before=show(make, loaded))


def viewer(app: KioskApp) -> ViewerScreen:
    logged_in(app)
    return ViewerScreen(AGREEMENTS[0])


async def viewer_loaded(pilot: Pilot[Any]) -> None:
    await until(pilot, lambda: pilot.app.screen.loaded)  # type: ignore[attr-defined]


def test_viewer(snap_compare: Any, size: tuple[int, int]) -> None:
    snapshot(snap_compare, kiosk(), size, run_before=show(viewer, viewer_loaded))


def test_viewer_read_to_the_end(snap_compare: Any, size: tuple[int, int]) -> None:
    async def to_the_end(pilot: Pilot[Any]) -> None:
        await viewer_loaded(pilot)
        await pilot.press("end")
        await until(pilot, lambda: pilot.app.screen.read_to_end)  # type: ignore[attr-defined]

    snapshot(snap_compare, kiosk(), size, run_before=show(viewer, to_the_end))


def test_viewer_read_to_the_end_beside_the_demo_phone(snap_compare: Any, size: tuple[int, int]) -> None:
    """At 80 columns with the demo's phone beside it, the Nynorsk hint wraps: both lines show."""

    async def to_the_end(pilot: Pilot[Any]) -> None:
        await viewer_loaded(pilot)
        await pilot.press("end")
        await until(pilot, lambda: pilot.app.screen.read_to_end)  # type: ignore[attr-defined]

    demo = DemoInfo(side_panels=lambda: [Static("(the phone)", classes="side")])
    snapshot(snap_compare, kiosk("nn", demo=demo), size, run_before=show(viewer, to_the_end))


def test_signing(snap_compare: Any, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SigningScreen, "sign", lambda self, order, password: None)

    def make(app: KioskApp) -> SigningScreen:
        logged_in(app)
        return SigningScreen(order(app, kind="sign"), "Fjord-Hest-2024")

    snapshot(snap_compare, kiosk(), size, run_before=show(make))


def receipt(app: KioskApp) -> ReceiptScreen:
    logged_in(app)
    path = Path("/var/lib/tillit/signed/order-1-laanavtale.pdf")
    files = [SignedFile("laanavtale.pdf", path, "0f" * 32, "pades")]
    signed = Receipt("Lånavtale for bustadlån", "order-1", "GRØN BØLGJE", NOW, "Kari Nordmann", "4f2a9c1d7e", files)
    return ReceiptScreen(signed)


def test_receipt(snap_compare: Any, size: tuple[int, int]) -> None:
    """Nothing covers it: the feedback question comes after it."""
    snapshot(snap_compare, kiosk(), size, run_before=show(receipt))


def test_receipt_beside_the_demo_phone(snap_compare: Any, size: tuple[int, int]) -> None:
    """At 80x24 beside the demo's phone, in Nynorsk, with a real certificate serial and signed file: the
    values wrap beside their labels, and what to do next (Enter) shows above the details, never cut off."""

    def long_receipt(app: KioskApp) -> ReceiptScreen:
        logged_in(app)
        path = Path("/home/kari/.local/share/tillit-demo/signed/d58f3093-dcd3-495a-83de-5b2e2784d39c-laanavtale.pdf")
        files = [SignedFile("laanavtale.pdf", path, "22" * 32, "pades")]
        signed = Receipt("Lånavtale for bustadlån", "order-1", "DJUP VIK", NOW, "Kari Nordmann", "654b" * 8, files)
        return ReceiptScreen(signed)

    demo = DemoInfo(side_panels=lambda: [Static("(the phone)", classes="side")])
    snapshot(snap_compare, kiosk("nn", demo=demo), size, run_before=show(long_receipt))


def test_feedback_dialog(snap_compare: Any, size: tuple[int, int]) -> None:
    """After the receipt, over the agreements, in Nynorsk: four stars and a comment typed."""

    async def rate(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: type(pilot.app.screen).__name__ == "FeedbackDialog")
        await pilot.press("4", "down", *"Lett å bruke")
        await until(pilot, lambda: "Lett å bruke" in pilot.app.screen.query_one("#comment", Input).value)

    def after_the_receipt(app: KioskApp) -> AgreementsScreen:
        logged_in(app)
        return AgreementsScreen(feedback_for="order-1")

    snapshot(snap_compare, kiosk("nn"), size, run_before=show(after_the_receipt, rate))


@pytest.mark.parametrize("hint", ["userCancel", "passwordLocked", "alreadyInProgress", "noControlQuestions", "blocked"])
def test_failed(snap_compare: Any, size: tuple[int, int], hint: str) -> None:
    """A locked password offers F5 (forgotten password); no control questions sends the customer to the counter;
    a blocked BankID is not offered F3 (block it) again."""
    make = show(lambda app: FailedScreen(hint, number=NUMBER))
    snapshot(snap_compare, kiosk(), size, run_before=make)


def test_reset_waiting(snap_compare: Any, size: tuple[int, int]) -> None:
    def make(app: KioskApp) -> WaitingScreen:
        return WaitingScreen(order(app, kind="reset"))

    snapshot(snap_compare, kiosk(), size, run_before=show(make))


def test_reset_questions(snap_compare: Any, size: tuple[int, int]) -> None:
    """The control questions from the signer, one field each (Nynorsk, the first answered)."""

    def make(app: KioskApp) -> ResetQuestionsScreen:
        return ResetQuestionsScreen(order(app, kind="reset"))

    async def answer(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: bool(pilot.app.screen.query("#answer-2")))
        await until(pilot, lambda: getattr(pilot.app.focused, "id", None) == "answer-0")
        await pilot.press(*"Pusen", "enter")
        await until(pilot, lambda: getattr(pilot.app.focused, "id", None) == "answer-1")

    snapshot(snap_compare, kiosk("nn"), size, run_before=show(make, answer))


def test_reset_new_password_refused(snap_compare: Any, size: tuple[int, int]) -> None:
    """The new password twice; the signer's policy reason in the customer's words."""

    def make(app: KioskApp) -> ResetPasswordScreen:
        return ResetPasswordScreen(order(app, kind="reset"), QUESTIONS, ["Pusen", "Strandgata", "Ingrid"])

    async def too_short(pilot: Pilot[Any]) -> None:
        await pilot.press(*"kort", "enter", *"kort", "enter")
        await until(pilot, lambda: "at least 8" in str(pilot.app.screen.query_one("#status", Static).render()))

    snapshot(snap_compare, kiosk(), size, run_before=show(make, too_short))


def test_reset_done(snap_compare: Any, size: tuple[int, int]) -> None:
    snapshot(snap_compare, kiosk(), size, run_before=show(lambda app: ResetDoneScreen(NUMBER)))


def test_block(snap_compare: Any, size: tuple[int, int]) -> None:
    snapshot(snap_compare, kiosk(), size, run_before=show(lambda app: BlockScreen(NUMBER)))


def test_block_confirm_dialog(snap_compare: Any, size: tuple[int, int]) -> None:
    snapshot(snap_compare, kiosk(), size, run_before=show(lambda app: BlockScreen(NUMBER)), press=("enter",))


def test_block_done(snap_compare: Any, size: tuple[int, int]) -> None:
    """Blocked: Enter only goes back now, and the footer says OK, not "Block BankID" again."""

    async def confirm(pilot: Pilot[Any]) -> None:
        await pilot.press("enter")
        await until(pilot, lambda: type(pilot.app.screen).__name__ == "ConfirmDialog")
        await pilot.press("enter")
        await until(pilot, lambda: pilot.app.screen.finished)  # type: ignore[attr-defined]

    snapshot(snap_compare, kiosk(), size, run_before=show(lambda app: BlockScreen(NUMBER), confirm))


def test_block_not_available(snap_compare: Any, size: tuple[int, int]) -> None:
    app = kiosk()

    def unavailable(number: str, order_ref: str | None = None) -> None:
        raise BlockUnavailable(404, "httpError", "Not Found")

    app.client.block = unavailable  # type: ignore[method-assign]

    async def confirm(pilot: Pilot[Any]) -> None:
        await pilot.press("enter")
        await until(pilot, lambda: type(pilot.app.screen).__name__ == "ConfirmDialog")
        await pilot.press("enter")
        await until(pilot, lambda: "not available" in str(pilot.app.screen.query_one("#status", Static).render()))

    snapshot(snap_compare, app, size, run_before=show(lambda app: BlockScreen(NUMBER), confirm))


def test_error_dialog(snap_compare: Any, size: tuple[int, int]) -> None:
    async def fail(pilot: Pilot[Any]) -> None:
        from tillit.kiosk.client import SignerError

        app = pilot.app
        assert isinstance(app, KioskApp)
        app.navigator.show_error(SignerError(0, "unreachable", "connection refused"))
        await until(pilot, lambda: type(app.screen).__name__ == "MessageDialog")

    snapshot(snap_compare, kiosk(), size, run_before=show(lambda app: NumberScreen(NUMBER), fail))


def test_error_dialog_in_customer_words(snap_compare: Any, size: tuple[int, int]) -> None:
    """A signer error code that is not a hint code, in the customer's words (Nynorsk), not the signer's reason."""

    async def fail(pilot: Pilot[Any]) -> None:
        from tillit.kiosk.client import SignerError

        app = pilot.app
        assert isinstance(app, KioskApp)
        app.navigator.show_error(SignerError(429, "rateLimited", "too many requests for this personal number"))
        await until(pilot, lambda: type(app.screen).__name__ == "MessageDialog")

    snapshot(snap_compare, kiosk("nn"), size, run_before=show(lambda app: NumberScreen(NUMBER), fail))


def test_admin_dialog(snap_compare: Any, size: tuple[int, int]) -> None:
    snapshot(snap_compare, kiosk(), size, press=("f12", *"12", "enter"))

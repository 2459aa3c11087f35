"""The kiosk's Textual app: thin. It holds the settings, the signer client, the customer's session
and the language; the screens (kiosk/screens/) do the work, one step of the flow each.

Kiosk behaviour lives here: no way out without the administrator's PIN (F12), the idle timer that
returns to the welcome screen and forgets the customer (after a warning with a countdown when someone
is logged in or an order is open; a half-typed number is just cleared), errors from the signer in a
dialog (in the customer's words), the feedback question once per customer, and in the demo the key to
the phone beside the kiosk (F8).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.widget import Widget

from tillit.kiosk.client import SignerClient, SignerError
from tillit.kiosk.i18n import Language, translate
from tillit.kiosk.settings import KioskSettings
from tillit.kiosk.state import DemoCustomer, Order, Session

if TYPE_CHECKING:
    from tillit.kiosk.dialogs.feedback import FeedbackResult


@dataclass
class DemoInfo:
    """What the embedded demo adds: its customers on the welcome screen, and the panels beside the kiosk."""

    customers: Sequence[DemoCustomer] = ()
    admin_pin: str | None = None
    side_panels: Callable[[], Iterable[Widget]] = field(default=lambda: ())

    def password_changed(self, personal_number: str, password: str) -> None:
        """A demo customer chose a new password at this kiosk (F5): the welcome screen shows that one now."""
        self.customers = [
            replace(c, password=password) if c.personal_number == personal_number else c for c in self.customers
        ]


class KioskApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "Tillit Bank"
    ENABLE_COMMAND_PALETTE = False
    AUTO_FOCUS = ""  # screens name what to focus; the demo's phone beside them never takes it by itself
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "nothing", "Quit disabled", show=False, priority=True, id="kiosk.no-quit"),
        Binding("ctrl+c", "nothing", "Interrupt disabled", show=False, priority=True, id="kiosk.no-interrupt"),
        Binding("f12", "admin", "Admin", show=False, priority=True, id="kiosk.admin"),
        Binding("f8", "phone", "Phone", id="kiosk.phone"),
    ]

    language: reactive[Language] = reactive("nn", init=False)

    def __init__(
        self,
        settings: KioskSettings,
        client: SignerClient,
        demo: DemoInfo | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.client = client
        self.demo = demo
        self.clock = clock
        self.set_reactive(KioskApp.language, settings.language)
        self.session: Session | None = None
        self.order: Order | None = None
        self.last_activity = time.monotonic()
        self._last_keepalive = time.monotonic()

    # -- words ---------------------------------------------------------------------------------

    def t(self, key: str, /, **params: Any) -> str:
        return translate(self.language, key, **params)

    def hint_text(self, hint: str | None, attempts_left: int | None = None) -> str:
        key = f"hint.{hint}"
        if hint == "wrongPassword" and attempts_left is not None:
            return self.t("password.wrong", attempts=attempts_left)
        if hint == "wrongCode" and attempts_left is not None:
            return self.t("code.wrong", attempts=attempts_left)
        text = self.t(key)
        return text if text != key else self.t("hint.unknown", hint=hint or "?")

    # -- screens -------------------------------------------------------------------------------

    def on_mount(self) -> None:
        from tillit.kiosk.screens.welcome import WelcomeScreen

        self.push_screen(WelcomeScreen())
        tick = min(1.0, self.settings.idle_seconds / 4)
        self.set_interval(tick, self._check_idle, name="idle")

    def go(self, screen: Screen[Any]) -> None:
        """Show the next step of the flow in place of the current one (dialogs on top are closed)."""
        while isinstance(self.screen, ModalScreen) and len(self.screen_stack) > 1:
            self.pop_screen()
        self.switch_screen(screen)

    def side_panels(self) -> Iterable[Widget]:
        """Widgets beside the kiosk on every screen: the demo's phone and code device."""
        return self.demo.side_panels() if self.demo else ()

    # -- the customer ----------------------------------------------------------------------------

    def reset(self, notice: str | None = None, feedback_for: str | None = None) -> None:
        """Back to the welcome screen: cancel an open order, end the customer session, forget both.
        `feedback_for`: a completed order to ask the customer's feedback on, over the welcome screen."""
        from tillit.kiosk.screens.welcome import WelcomeScreen

        order, session = self.order, self.session
        self.order, self.session = None, None
        if order is not None or session is not None:
            self._forget(order.order_ref if order else None, session.token if session else None)
        self.language = self.settings.language
        self.last_activity = time.monotonic()
        self.go(WelcomeScreen(notice=notice, feedback_for=feedback_for))

    def cancel_quietly(self, order_ref: str) -> None:
        """Cancel an order in the background (one the customer cannot go on with); failures do not matter."""
        self._forget(order_ref, None)

    @work(thread=True, group="forget", exit_on_error=False)
    def _forget(self, order_ref: str | None, token: str | None) -> None:
        # An order already final, or a signer away: the order expires and the session ends by themselves.
        if order_ref:
            with contextlib.suppress(SignerError):
                self.client.cancel(order_ref)
        if token:
            with contextlib.suppress(SignerError):
                self.client.end_session(token)

    def show_error(self, error: SignerError) -> None:
        """A signer failure in words for the customer, in a dialog (an ended session goes home)."""
        from tillit.kiosk.dialogs.message import MessageDialog

        if error.session_ended and self.session is not None:
            self.reset(notice="error.session")
            return
        self.push_screen(MessageDialog(self.t("error.title"), self.error_text(error), variant="error"))

    def error_text(self, error: SignerError) -> str:
        """The customer's words for a signer error code; the signer's own reason only for codes without any."""
        if error.unreachable:
            return self.t("error.unavailable")
        key = f"error.code.{error.code}"
        text = self.t(key)
        return text if text != key else self.t("error.signer", reason=error.reason)

    # -- feedback ----------------------------------------------------------------------------------

    def ask_feedback(self, order_ref: str) -> None:
        """The feedback question ("Me ynskjer di tilbakemelding!") over the current screen; a rating goes
        to the signer in the background. Skipped, a signer away, feedback already given: nothing is said."""
        from tillit.kiosk.dialogs.feedback import FeedbackDialog

        if not order_ref:
            return

        def answered(result: FeedbackResult | None) -> None:
            if result is not None:
                self._send_feedback(order_ref, result)

        self.push_screen(FeedbackDialog(), answered)

    @work(thread=True, group="feedback", exit_on_error=False)
    def _send_feedback(self, order_ref: str, result: FeedbackResult) -> None:
        with contextlib.suppress(SignerError):
            self.client.feedback(order_ref, result.rating, result.comment)

    # -- idle --------------------------------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent | events.Paste) and not event.is_forwarded:
            self.last_activity = time.monotonic()
        if isinstance(event, events.Paste) and not event.is_forwarded and ("\n" in event.text or "\r" in event.text):
            self.paste_as_typed(event.text)
            return
        await super().on_event(event)

    def paste_as_typed(self, text: str) -> None:
        """A paste with line ends, taken as typed: each line, then Enter where the line ended.

        A card reader or barcode scanner (or a bracketed paste) sends the number with a line end after
        it; Textual's fields keep the first line of a paste and drop the rest, Enter included."""
        for line in text.splitlines(keepends=True):
            content = line.rstrip("\r\n")
            if content:
                self.post_message(events.Paste(content))
            if content != line:
                self.post_message(events.Key("enter", "\r"))

    def _check_idle(self) -> None:
        from tillit.kiosk.dialogs.feedback import FeedbackDialog
        from tillit.kiosk.screens.base import KioskScreen

        screen = self.screen_stack[1] if len(self.screen_stack) > 1 else self.screen
        awake = isinstance(screen, KioskScreen) and screen.KEEP_AWAKE
        now = time.monotonic()
        if awake:
            self.last_activity = now
        idle = now - self.last_activity
        resets = isinstance(screen, KioskScreen) and screen.IDLE_RESET
        if resets and idle >= self.settings.idle_seconds:
            # Only a customer who was logged in is told so; a half-typed number is just cleared.
            notice = "welcome.logged_out" if self.session else "welcome.timed_out" if self.order else None
            self.reset(notice=notice)
            return
        self._warn_idle(idle if resets else 0.0)
        if idle >= self.settings.idle_seconds and isinstance(self.screen, FeedbackDialog):
            self.screen.dismiss(None)  # nobody answered: the next customer gets a clean welcome screen
            return
        # Keep the signer's customer session alive while the customer is busy at the kiosk.
        busy = self.session is not None and idle < self.settings.idle_seconds
        if busy and self.session is not None and now - self._last_keepalive >= self.settings.idle_seconds / 3:
            self._last_keepalive = now
            self._keepalive(self.session.token)

    def _warn_idle(self, idle: float) -> None:
        """The countdown before the idle timeout, for a customer with something to lose; closed once
        they are back (a key closes it itself; the mouse counts too)."""
        from tillit.kiosk.dialogs.idle import IdleWarning

        settings = self.settings
        lead = min(settings.idle_warning_seconds, settings.idle_seconds / 2)
        at_stake = self.session is not None or self.order is not None
        warning = next((s for s in self.screen_stack if isinstance(s, IdleWarning)), None)
        if at_stake and lead > 0 and idle >= settings.idle_seconds - lead:
            left = settings.idle_seconds - idle
            if warning is None:
                self.push_screen(IdleWarning("idle.logged_in" if self.session else "idle.order", left))
            else:
                warning.count_down(left)
        elif warning is not None and warning is self.screen:
            warning.dismiss(None)

    @work(thread=True, group="keepalive", exclusive=True, exit_on_error=False)
    def _keepalive(self, token: str) -> None:
        try:
            self.client.agreements(token)
        except SignerError as e:
            if e.session_ended:
                self.call_from_thread(self._session_lost, token)

    def _session_lost(self, token: str) -> None:
        if self.session is not None and self.session.token == token:
            self.reset(notice="error.session")

    # -- keys ------------------------------------------------------------------------------------

    def action_nothing(self) -> None:
        """Quit and interrupt keys do nothing at a kiosk."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "phone":  # only where the demo's phone is beside the kiosk, and no dialog covers it
            return not isinstance(self.screen, ModalScreen) and bool(self.screen.query("#phone"))
        return True

    def action_phone(self) -> None:
        """The demo's phone takes the keys (j: Ja, n: Nei): its "Ja" button when a request shows."""
        if isinstance(self.screen, ModalScreen):
            return
        for phone in self.screen.query("#phone"):
            target = next((w for w in phone.query("Button") if w.focusable), phone)
            if target.focusable:
                target.focus()
            return

    def action_admin(self) -> None:
        from tillit.kiosk.dialogs.admin import AdminDialog

        if isinstance(self.screen, AdminDialog):
            return
        pin = self.settings.admin_pin.get_secret_value() if self.settings.admin_pin else None

        def done(ok: bool | None) -> None:
            if ok:
                self.exit()

        self.push_screen(AdminDialog(pin), done)

"""The kiosk's Textual app: thin. It holds the settings, the signer client, the customer's session
and the language; the screens (kiosk/screens/) do the work, one step of the flow each, and the
navigator (kiosk/navigator.py) shows the screen each of them asks for next.

Kiosk behaviour lives here: no way out without the administrator's PIN (F12), the idle timer that
returns to the welcome screen and forgets the customer (after a warning with a countdown when someone
is logged in or an order is open; a half-typed number is just cleared), keeping the customer session
alive while they are busy, pasted lines taken as typed, the customer's words (`t`, `hint_text`), and in
the demo the key to the phone beside the kiosk (F8). Signer errors and the feedback question are put
over the screens by the navigator.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from textual import events, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widget import Widget

from tillit.kiosk.chrome import MIN_HEIGHT, MIN_WIDTH
from tillit.kiosk.client import SignerClient, SignerError
from tillit.kiosk.context import DemoInfo
from tillit.kiosk.dialogs.admin import AdminDialog
from tillit.kiosk.dialogs.feedback import FeedbackDialog
from tillit.kiosk.dialogs.idle import IdleWarning
from tillit.kiosk.i18n import Language, translate
from tillit.kiosk.navigation import StartOver, Step
from tillit.kiosk.navigator import Navigator
from tillit.kiosk.screens.base import KioskScreen
from tillit.kiosk.settings import KioskSettings
from tillit.kiosk.state import Order, Session


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

    # Screens get the class -short under 24 rows: app.tcss and the screens' styles fit a short terminal
    # (the demo in a 60x20 window) with it.
    VERTICAL_BREAKPOINTS = [(0, "-too-short"), (MIN_HEIGHT, "-short"), (24, "-tall")]  # noqa: RUF012 (Textual declares it a plain attribute)
    # And -narrow under 80 columns, where the demo's phone (34 columns) would leave the kiosk too little.
    # Below MIN_WIDTH x MIN_HEIGHT nothing fits: -too-narrow and -too-short show only a notice (TooSmall).
    HORIZONTAL_BREAKPOINTS = [(0, "-too-narrow"), (MIN_WIDTH, "-narrow"), (80, "-wide")]  # noqa: RUF012

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
        self.navigator = Navigator(app=self, kiosk=self)

    # -- words ---------------------------------------------------------------------------------

    def t(self, key: str, /, **params: Any) -> str:
        return translate(self.language, key, **params)

    def hint_text(self, hint: str | None, attempts_left: int | None = None) -> str:
        key = f"hint.{hint}"
        if hint == "wrongPassword" and attempts_left is not None:
            return self.t("password.wrong", attempts=attempts_left)
        if hint == "wrongCode" and attempts_left == 0:
            return self.t("hint.codeThrottled")  # the next code is refused for a while: say so now, not then
        if hint == "wrongCode" and attempts_left is not None:
            return self.t("code.wrong", attempts=attempts_left)
        text = self.t(key)
        return text if text != key else self.t("hint.unknown", hint=hint or "?")

    # -- screens -------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.navigator.start()
        tick = min(1.0, self.settings.idle_seconds / 4)
        self.set_interval(tick, self._check_idle, name="idle")

    def side_panels(self) -> Iterable[Widget]:
        """Widgets beside the kiosk on every screen: the demo's phone and code device."""
        return self.demo.side_panels() if self.demo else ()

    def navigate(self, step: Step) -> None:
        """Go where a screen's step says: the navigator picks the screen."""
        self.navigator.navigate(step)

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
        if not self.screen_stack:
            return  # a tick that lands while the app closes, its screens already gone
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
            self.navigator.reset(notice=notice)
            return
        self._warn_idle(idle if resets else 0.0)
        if isinstance(self.screen, FeedbackDialog) and idle >= min(
            FeedbackDialog.IDLE_SECONDS, self.settings.idle_seconds
        ):
            self.screen.dismiss(None)  # nobody answered: the next customer gets a clean welcome screen
            return
        if not resets and idle >= self.settings.idle_seconds:
            self.navigator.next_customer()  # the last customer's language and notice go
            return
        # Keep the signer's customer session alive while the customer is busy at the kiosk.
        busy = self.session is not None and idle < self.settings.idle_seconds
        if busy and self.session is not None and now - self._last_keepalive >= self.settings.idle_seconds / 3:
            self._last_keepalive = now
            self._keepalive(self.session.token)

    def _warn_idle(self, idle: float) -> None:
        """The countdown before the idle timeout, for a customer with something to lose; closed once
        they are back (a key closes it itself; the mouse counts too)."""
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
            self.navigate(StartOver(notice="error.session"))

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
        if isinstance(self.screen, AdminDialog):
            return
        pin = self.settings.admin_pin.get_secret_value() if self.settings.admin_pin else None

        def done(ok: bool | None) -> None:
            if ok:
                self.exit()

        self.push_screen(AdminDialog(pin), done)

"""What every kiosk screen shares: the frame (title bar, footer, the demo's side panels), asking the
navigator for the next step, and running signer calls in thread workers (results back on the app's
thread, failures in a dialog); and what the screens of an open order share (`OrderScreen`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from textual import events, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Input, Static

from tillit.kiosk import orders
from tillit.kiosk.chrome import KioskFooter, TitleBar, TooSmall, after_typing, time_left
from tillit.kiosk.client import SignerError
from tillit.kiosk.context import KioskContext, kiosk_of
from tillit.kiosk.navigation import BackToStart, ShowError, ShowFailure, ShowMethods, ShowOrder, Step
from tillit.kiosk.state import Order

T = TypeVar("T")


class KioskScreen(Screen[None]):
    """A step of the kiosk's flow. Subclasses give `compose_body`; the frame is the same everywhere."""

    KEEP_AWAKE: ClassVar[bool] = False
    """While shown, the idle timer does not run (the customer is busy on the phone, or signing)."""

    IDLE_RESET: ClassVar[bool] = True
    """Whether idleness here returns to the welcome screen."""

    TYPE_INTO: ClassVar[str | None] = None
    """The field that typing goes to while nothing has focus yet (keys typed as the screen opens)."""

    def __init__(self) -> None:
        super().__init__()
        self.busy = False
        """A signer call of this screen is under way: keys that would start another do nothing."""

    @property
    def kiosk(self) -> KioskContext:
        return kiosk_of(self)

    def t(self, key: str, /, **params: Any) -> str:
        return self.kiosk.t(key, **params)

    def compose(self) -> ComposeResult:
        session = self.kiosk.session
        who = f" · {session.customer.name}" if session else ""
        yield TooSmall()
        yield TitleBar(f" {self.t('app.title')} · {self.t('app.subtitle')}{who}", id="titlebar")
        with Horizontal(id="frame"):
            with Vertical(id="body"):
                yield from self.compose_body()
            yield from self.kiosk.side_panels()
        yield KioskFooter()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    def navigate(self, step: Step) -> None:
        """Ask the navigator for the next step (it picks the screen)."""
        self.kiosk.navigate(step)

    def show_order(self, started: orders.Started) -> None:
        """The screen for an order just started (or answered)."""
        self.navigate(ShowOrder(*started))

    def failed(self, error: SignerError) -> bool:
        """A signer call of this screen failed: True when handled here, else the error dialog says it."""
        self.busy = False
        return False

    def start_reset(self, number: str) -> None:
        """Forgotten password: start the reset order (cancelling an open login first), then its screen."""
        kiosk = self.kiosk
        client, open_order, text = kiosk.client, kiosk.order, self.t("order.text.reset")

        def gone(error: SignerError) -> bool:
            if open_order is not None and kiosk.order is open_order:
                self.navigate(BackToStart())  # the login was cancelled: the error shows over the start
                return False
            return self.failed(error)

        self.call_signer(lambda: orders.reset_password(client, number, text, open_order), self.show_order, gone)

    def after_typing(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the keys typed before it have reached their field.

        Enter is a priority binding, handled as it arrives, while the keys typed just before it may still
        wait in the screen's or the focused field's queue: a fast typist's last digits must not be lost.
        """
        after_typing(self, callback)

    def on_key(self, event: events.Key) -> None:
        if self.left_behind(event):
            return
        if self.TYPE_INTO is None or self.focused is not None or not (event.is_printable and event.character):
            return
        field = self.query(self.TYPE_INTO).first(Input)
        event.stop()
        field.focus()
        field.insert_text_at_cursor(event.character)

    def on_paste(self, event: events.Paste) -> None:
        if self.left_behind(event) or self.TYPE_INTO is None or self.focused is not None:
            return
        field = self.query(self.TYPE_INTO).first(Input)
        event.stop()
        field.focus()
        field.insert_text_at_cursor(event.text)

    def left_behind(self, event: events.Key | events.Paste) -> bool:
        """Pass a key or paste that reached this screen after another took its place on to the app again.

        Textual hands each key to the screen that is current when the key arrives, but the screen
        handles it later: keys that come in one burst (a paste, a card reader, a fast typist) are all
        queued here before the first of them opens the next screen, and the rest must go to that one
        (the Enter after eleven digits was lost). Sent again, they find the current screen's bindings."""
        if self.app.screen is self:
            return False
        event.stop()
        event.prevent_default()
        again = events.Key(event.key, event.character) if isinstance(event, events.Key) else events.Paste(event.text)
        self.app.post_message(again)
        return True

    @property
    def current(self) -> bool:
        """Whether this screen is still the one in the flow (results for a screen left behind are dropped)."""
        return self.is_attached and self in self.app.screen_stack

    @work(thread=True, group="signer", exit_on_error=False)
    def call_signer(
        self,
        call: Callable[[], T],
        then: Callable[[T], None],
        failed: Callable[[SignerError], bool] | None = None,
    ) -> None:
        """Run `call` in a thread; `then(result)` on the app's thread. A SignerError goes to `failed`
        (return True when handled), else to the error dialog."""
        try:
            result = call()
        except SignerError as error:
            self._deliver(self._failed, error, failed)
            return
        self._deliver(then, result)

    def _deliver(self, callback: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the app has stopped
            self.app.call_from_thread(self._if_current, callback, *args)

    def _if_current(self, callback: Callable[..., None], *args: Any) -> None:
        if self.current:
            callback(*args)

    def _failed(self, error: SignerError, failed: Callable[[SignerError], bool] | None) -> None:
        if failed is not None and failed(error):
            return
        self.navigate(ShowError(error))


class OrderScreen(KioskScreen):
    """A step of an open order (waiting for the phone, the code, the password, the reset's questions):
    the order it shows, cancelling it, and its reference with the time left."""

    def __init__(self, order: Order) -> None:
        super().__init__()
        self.order = order

    @property
    def still_open(self) -> bool:
        """Whether the kiosk still waits on this screen's order (not cancelled or ended meanwhile)."""
        return self.kiosk.order is not None

    def reference_line(self) -> str:
        """The reference and the time left: "Reference: BLÅ FJORD · expires in 2:31" (or expired)."""
        remaining = self.order.expires_at - self.kiosk.clock()
        left = self.t("common.expires_in", time=time_left(remaining)) if remaining > 0 else self.t("common.expired")
        return f"{self.t('common.reference')}: [b]{self.order.reference}[/b] · {left}"

    def keep_reference_line(self) -> None:
        """Show the reference line in the screen's `#reference` now and refresh it every second."""
        self.tick()
        self.set_interval(1.0, self.tick)

    def tick(self) -> None:
        if self.still_open:
            self.query_one("#reference", Static).update(self.reference_line())

    def say(self, text: str, error: bool = True) -> None:
        """`text` in the screen's status line (`#status`), shown as an error unless `error` is False."""
        status = self.query_one("#status", Static)
        status.update(text)
        status.set_class(error, "error")

    def cancel_order(self) -> None:
        """Cancel the open order (Escape), then back to the start; a signing cancelled says that nothing
        was signed. An order that has already ended is fine."""
        kiosk = self.kiosk
        if kiosk.order is None:
            return
        order, kiosk.order = self.order, None
        if order.kind == "sign":  # back at the list, the customer must not wonder whether it was signed
            self.app.notify(self.t("signing.cancelled"), timeout=6)

        def gone(error: SignerError) -> bool:
            self.navigate(BackToStart())
            return not error.unreachable

        self.call_signer(lambda: kiosk.client.cancel(order.order_ref), lambda _: self.navigate(BackToStart()), gone)

    def choose_another(self) -> None:
        """Another way to log in (F4, "Other login"): cancel the order started with the remembered method,
        then the method screen."""
        kiosk = self.kiosk
        if kiosk.order is None:
            return
        order, kiosk.order = self.order, None

        def choose(_: object = None) -> None:
            self.navigate(ShowMethods(order.personal_number))

        def gone(error: SignerError) -> bool:
            choose()
            return not error.unreachable

        self.call_signer(lambda: kiosk.client.cancel(order.order_ref), choose, gone)

    def reset_trouble(self, error: SignerError) -> bool:
        """What the reset screens do with the signer's refusals; True when handled here.

        No control questions: the order cannot go on, the customer is sent to the counter. An order that
        has ended (expired, cancelled, blocked): its own status says why."""
        if not self.still_open:
            return False
        order = self.order
        if error.code == "noControlQuestions":
            self.navigate(ShowFailure("noControlQuestions", kind="reset", number=order.personal_number, cancel=order))
            return True
        if error.code == "orderEnded":
            self.call_signer(
                lambda: self.kiosk.client.collect(order.order_ref), lambda response: self.show_order((order, response))
            )
            return True
        return False

"""What every kiosk screen shares: the title bar, the translated footer, the demo's side panels, and
running signer calls in thread workers (results back on the app's thread, failures in a dialog)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from textual import events, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.widgets._footer import FooterKey

from tillit.kiosk.client import SignerError

if TYPE_CHECKING:
    from tillit.kiosk.app import KioskApp

T = TypeVar("T")


def after_typing(screen: Screen[Any], callback: Callable[[], None]) -> None:
    """Run `callback` after the keys already sent to `screen` and to its focused widget are handled."""

    def then() -> None:
        focused = screen.focused
        if focused is not None:
            focused.call_later(callback)
        else:
            callback()

    screen.call_later(then)


class KioskFooter(Footer):
    """The footer, with each key's description in the kiosk's language."""

    def compose(self) -> ComposeResult:
        app = cast("KioskApp", self.app)
        for widget in super().compose():
            if isinstance(widget, FooterKey) and widget.description:
                key = f"key.{widget.description}"
                translated = app.t(key)
                widget.description = widget.description if translated == key else translated
            yield widget


class TitleBar(Static):
    """One line on top: the bank, and who is logged in."""


class KioskScreen(Screen[None]):
    """A step of the kiosk's flow. Subclasses give `compose_body`; the frame is the same everywhere."""

    KEEP_AWAKE: ClassVar[bool] = False
    """While shown, the idle timer does not run (the customer is busy on the phone, or signing)."""

    IDLE_RESET: ClassVar[bool] = True
    """Whether idleness here returns to the welcome screen."""

    TYPE_INTO: ClassVar[str | None] = None
    """The field that typing goes to while nothing has focus yet (keys typed as the screen opens)."""

    @property
    def kiosk(self) -> KioskApp:
        return cast("KioskApp", self.app)

    def t(self, key: str, /, **params: Any) -> str:
        return self.kiosk.t(key, **params)

    def compose(self) -> ComposeResult:
        session = self.kiosk.session
        who = f" · {session.customer.name}" if session else ""
        yield TitleBar(f" {self.t('app.title')} · {self.t('app.subtitle')}{who}", id="titlebar")
        with Horizontal(id="frame"):
            with Vertical(id="body"):
                yield from self.compose_body()
            yield from self.kiosk.side_panels()
        yield KioskFooter()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

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
        self.kiosk.show_error(error)

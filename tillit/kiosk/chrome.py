"""The kiosk's frame around every screen and dialog: the title bar, the footer with the keys in the
customer's language, the notice for a window too small for the kiosk; and what screens and dialogs
share about typing and time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.widgets._footer import FooterKey

from tillit.kiosk.context import kiosk_of

MIN_WIDTH, MIN_HEIGHT = 60, 20
"""The smallest terminal the kiosk's screens fit (the demo in a 60x20 window, its snapshots check it).
Below it each screen and dialog shows only `TooSmall` (app.tcss), never a layout cut off."""


def after_typing(screen: Screen[Any], callback: Callable[[], None]) -> None:
    """Run `callback` after the keys already sent to `screen` and to its focused widget are handled."""

    def then() -> None:
        focused = screen.focused
        if focused is not None:
            focused.call_later(callback)
        else:
            callback()

    screen.call_later(then)


def time_left(seconds: float) -> str:
    """Seconds as m:ss, rounded up (an order's time left)."""
    seconds = max(0, int(seconds + 0.999))
    return f"{seconds // 60}:{seconds % 60:02d}"


class KioskFooter(Footer):
    """The footer, with each key's description in the kiosk's language."""

    def compose(self) -> ComposeResult:
        t = kiosk_of(self).t
        for widget in super().compose():
            if isinstance(widget, FooterKey) and widget.description:
                key = f"key.{widget.description}"
                translated = t(key)
                widget.description = widget.description if translated == key else translated
            yield widget


class TitleBar(Static):
    """One line on top: the bank, and who is logged in."""


class TooSmall(Static):
    """ "The window is too small for the kiosk; make it at least 60x20", in the customer's language, in
    place of everything else while the terminal is smaller than MIN_WIDTH x MIN_HEIGHT (app.tcss)."""

    def __init__(self) -> None:
        super().__init__(classes="too-small")

    def on_mount(self) -> None:
        self.update(kiosk_of(self).t("app.too_small", width=MIN_WIDTH, height=MIN_HEIGHT))

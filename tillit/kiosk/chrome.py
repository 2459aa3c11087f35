"""The kiosk's frame around every screen and dialog: the title bar, the footer with the keys in the
customer's language; and what screens and dialogs share about typing and time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.widgets._footer import FooterKey

from tillit.kiosk.context import kiosk_of


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

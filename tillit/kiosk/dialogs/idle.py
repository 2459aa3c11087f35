"""The warning before the idle timeout ends what a customer has going (a login, an order): how many
seconds are left, counting down; any key closes it and keeps everything as it was (the key does nothing
else). The app (kiosk/app.py `_check_idle`) opens it, updates it and closes it."""

from __future__ import annotations

import math

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from tillit.kiosk.chrome import TooSmall
from tillit.kiosk.context import kiosk_of


class IdleWarning(ModalScreen[None]):
    CSS_PATH = "idle.tcss"

    def __init__(self, text_key: str, seconds_left: float) -> None:
        super().__init__()
        self.text_key = text_key
        """`idle.logged_in` (the session ends) or `idle.order` (what was started is cancelled)."""
        self.seconds_left = seconds_left

    def compose(self) -> ComposeResult:
        t = kiosk_of(self).t
        yield TooSmall()
        with Vertical(id="box"):
            yield Static(t("idle.title"), id="dialog-title")
            yield Static(self.text(), id="dialog-text")

    def text(self) -> str:
        seconds = max(0, math.ceil(self.seconds_left))
        return kiosk_of(self).t(self.text_key, seconds=seconds)

    def count_down(self, seconds_left: float) -> None:
        self.seconds_left = seconds_left
        self.query_one("#dialog-text", Static).update(self.text())

    def on_key(self, event: events.Key) -> None:
        """Any key: the customer is here (the app has already counted it as activity)."""
        event.stop()
        event.prevent_default()
        self.dismiss(None)

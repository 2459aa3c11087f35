"""The feedback question, "Me ynskjer di tilbakemelding!": a rating from 1 to 5 (digits or arrows)
and an optional one-line comment, after a completed login or signature. Enter sends, Escape skips; the
kiosk sends it in the background (kiosk/navigator.py `ask_feedback`) and thanks the customer.

It never takes the next customer's typing: digits typed in a row that cannot be a rating (a 0, 6 to 9,
or a third digit) are a national identity number, so the dialog closes unanswered and hands them, and
every key after them, to the screen beneath. Left alone it closes itself (kiosk/app.py `_check_idle`,
after `IDLE_SECONDS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tillit.kiosk.chrome import KioskFooter, TooSmall, after_typing
from tillit.kiosk.context import kiosk_of

MAX_RATING = 5
COMMENT_LENGTH = 200
NUMBER_DIGITS = 3
"""Digits typed in a row that are the start of a number, not a rating (someone may change their mind
once: "3", then "4")."""


@dataclass(frozen=True)
class FeedbackResult:
    rating: int
    """1 (very poor) to 5 (very good)."""
    comment: str = ""


class FeedbackDialog(ModalScreen[FeedbackResult | None]):
    CSS_PATH = "feedback.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "send", "Send", priority=True, id="feedback.send"),
        Binding("escape", "skip", "Skip", id="feedback.skip"),
    ]
    # Digits and arrows are keys, not bindings: a binding runs after the key has passed through the
    # screen, so a "5" typed just before Enter would come too late for it.
    STEPS: ClassVar[dict[str, int]] = {"left": -1, "right": 1}

    IDLE_SECONDS: ClassVar[float] = 30.0
    """Closed unanswered after this long without a key (or the kiosk's idle time, if shorter): the
    customer has gone, and the next one finds the welcome screen."""

    rating: reactive[int] = reactive(0, init=False)

    def __init__(self) -> None:
        super().__init__()
        self.digits = ""
        """The digits typed in a row so far (another key ends the row)."""

    def t(self, key: str) -> str:
        return kiosk_of(self).t(key)

    def compose(self) -> ComposeResult:
        yield TooSmall()
        with Vertical(id="box"):
            yield Static(self.t("feedback.title"), id="dialog-title")
            yield Static(self.t("feedback.lead"), id="dialog-text")
            yield Static(self.stars(), id="stars")
            yield Static(self.t("feedback.keys"), id="help", classes="muted")
            yield Static(self.t("feedback.comment"), id="comment-label")
            yield Input(max_length=COMMENT_LENGTH, id="comment")
            yield Static("", id="status")
            yield Static(self.t("feedback.anonymous"), id="dialog-keys")
        yield KioskFooter()

    def stars(self) -> str:
        filled = "★" * self.rating + "☆" * (MAX_RATING - self.rating)
        return f"[b]{filled}[/b]  {self.t(f'feedback.rating_{self.rating}')}"

    def watch_rating(self) -> None:
        self.query_one("#stars", Static).update(self.stars())
        self.query_one("#status", Static).update("")

    def on_key(self, event: events.Key) -> None:
        """1-5 or the arrows: the rating; down: the comment, up: back to the rating. A number typed
        (the next customer's): closed, the digits handed on."""
        if self.app.screen is not self:  # came after the dialog closed: for the screen it uncovered
            self.hand_on(event, events.Key(event.key, event.character))
            return
        comment = self.query_one("#comment", Input)
        if self.focused is comment:  # what the field does not take itself
            if event.key == "up":
                event.stop()
                self.set_focus(None)
            return
        digit = event.character if event.character and event.character.isdigit() else None
        self.digits = self.digits + digit if digit else ""
        if digit and (len(self.digits) >= NUMBER_DIGITS or not 1 <= int(digit) <= MAX_RATING):
            typed, self.digits = self.digits, ""
            self.dismiss(None)
            self.hand_on(event, events.Paste(typed))  # at once: the screen beneath opens the number with them
            return
        if digit:
            self.rating = int(digit)
        elif event.key in self.STEPS:
            self.rating = max(1, min(MAX_RATING, self.rating + self.STEPS[event.key]))
        elif event.key in ("down", "tab"):
            comment.focus()
        else:
            return
        event.stop()
        event.prevent_default()

    def action_send(self) -> None:
        after_typing(self, self.send)

    def hand_on(self, event: events.Key, *keys: events.Key | events.Paste) -> None:
        """`keys` to the app again, for the screen shown now (this dialog has closed)."""
        event.stop()
        event.prevent_default()
        for key in keys:
            self.app.post_message(key)

    def send(self) -> None:
        if self.app.screen is not self:  # closed by a number typed before this Enter: it goes with the number
            self.app.post_message(events.Key("enter", "\r"))
            return
        if not self.rating:
            self.query_one("#status", Static).update(self.t("feedback.choose"))
            return
        comment = " ".join(self.query_one("#comment", Input).value.split())
        self.dismiss(FeedbackResult(self.rating, comment))

    def action_skip(self) -> None:
        if self.app.screen is self:
            self.dismiss(None)

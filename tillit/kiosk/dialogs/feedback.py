"""The feedback question, "Me ynskjer di tilbakemelding!": a rating from 1 to 5 (digits or arrows)
and an optional one-line comment, after a completed login or signature. Enter sends, Escape skips; the
kiosk sends it in the background and never says anything about it (kiosk/navigator.py `ask_feedback`).
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

from tillit.kiosk.chrome import KioskFooter, after_typing
from tillit.kiosk.context import kiosk_of

MAX_RATING = 5
COMMENT_LENGTH = 200


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

    rating: reactive[int] = reactive(0, init=False)

    def t(self, key: str) -> str:
        return kiosk_of(self).t(key)

    def compose(self) -> ComposeResult:
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
        """1-5 or the arrows: the rating; down: the comment, up: back to the rating."""
        comment = self.query_one("#comment", Input)
        if self.focused is comment:  # what the field does not take itself
            if event.key == "up":
                event.stop()
                self.set_focus(None)
            return
        if event.character and event.character.isdigit() and 1 <= int(event.character) <= MAX_RATING:
            self.rating = int(event.character)
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

    def send(self) -> None:
        if not self.rating:
            self.query_one("#status", Static).update(self.t("feedback.choose"))
            return
        comment = " ".join(self.query_one("#comment", Input).value.split())
        self.dismiss(FeedbackResult(self.rating, comment))

    def action_skip(self) -> None:
        self.dismiss(None)

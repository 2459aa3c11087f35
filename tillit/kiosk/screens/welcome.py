"""Welcome: what the kiosk is for, the language (F9), and in the demo its customers.

Typing a digit starts the login: the number screen opens with that digit already typed, and the
digits typed while it opens follow it there. After a customer logs out, the feedback question shows
over it once.
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from tillit.kiosk.i18n import LANGUAGE_NAMES, next_language
from tillit.kiosk.navigation import AskFeedback, ShowBlock, ShowNumber, TypeDigits
from tillit.kiosk.screens.base import KioskScreen


class WelcomeScreen(KioskScreen):
    CSS_PATH = "welcome.tcss"
    IDLE_RESET = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "start", "Log in", id="welcome.start"),
        Binding("f3", "block", "Block BankID", id="welcome.block"),
        Binding("f9", "language", "Language", id="welcome.language"),
        # Digits as priority bindings: the app runs them as it takes each key, in order. Handled in
        # this screen's own queue instead, the digits of a burst queued behind the first were lost
        # when the number screen replaced this one before they were handled (seen under load).
        *(
            Binding(
                digit, f"digit('{digit}')", "Type the number", show=False, priority=True, id=f"welcome.digit-{digit}"
            )
            for digit in "0123456789"
        ),
    ]

    def __init__(self, notice: str | None = None, feedback_for: str | None = None) -> None:
        super().__init__()
        self.notice = notice
        self.feedback_for = feedback_for
        self.opened = False
        """The next screen has been asked for: digits typed from now on go to it."""

    def compose_body(self) -> ComposeResult:
        yield Static(self.t("welcome.title"), id="title", classes="title")
        yield Static(self.t("welcome.lead"), classes="lead")
        yield Static(self.t("welcome.start"), id="start", classes="lead")
        # Every language by its own name, the one shown in bold: someone who cannot read this one still
        # finds theirs, and F9 beside it.
        languages = " · ".join(
            f"[b]{name}[/b]" if code == self.kiosk.language else name for code, name in LANGUAGE_NAMES.items()
        )
        yield Static(self.t("welcome.language", languages=languages), id="language", classes="muted")
        if self.notice:
            yield Static(self.t(self.notice), id="notice", classes="notice")
        demo = self.kiosk.demo
        if demo and demo.customers:
            lines = [f"[b]{self.t('welcome.demo')}[/b]"]
            for c in demo.customers:
                lines.append(f"{c.name}  [b]{c.personal_number}[/b]")
                # No password: it was changed at the kiosk in an earlier run, and nobody here knows it.
                password = c.password or self.t("demo.note.password_changed")
                lines.append(f"  {password} · {self.t(c.note)}")
            lines.append(self.t("welcome.demo_phone"))
            if demo.admin_pin:
                lines.append(self.t("welcome.demo_admin", pin=demo.admin_pin))
            yield Static("\n".join(lines), id="demo")

    def on_mount(self) -> None:
        if self.feedback_for:
            order_ref, self.feedback_for = self.feedback_for, None
            self.navigate(AskFeedback(order_ref))

    def action_digit(self, digit: str) -> None:
        self.open_number(digit)

    def on_paste(self, event: events.Paste) -> None:
        """A pasted (or scanned) number starts the login like typed digits; other text is ignored."""
        digits = "".join(event.text.split())
        if digits.isdigit():
            event.stop()
            event.prevent_default()
            self.open_number(digits)

    def open_number(self, typed: str = "") -> None:
        """The number screen, with what has been typed; digits typed faster than it opens go there too."""
        if self.opened:
            self.navigate(TypeDigits(typed))
            return
        self.opened = True
        self.navigate(ShowNumber(typed))

    def action_start(self) -> None:
        self.open_number()

    def action_block(self) -> None:
        if not self.opened:
            self.opened = True
            self.navigate(ShowBlock())

    async def action_language(self) -> None:
        self.kiosk.language = next_language(self.kiosk.language)
        self.notice = None
        await self.recompose()
        self.refresh_bindings()  # the new footer fills in when the bindings signal

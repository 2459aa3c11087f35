"""Logged in: the agreements waiting for this customer (from the customer session). Logging out asks
for feedback on the login, unless this customer was asked already (after a receipt)."""

from __future__ import annotations

from typing import ClassVar

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tillit.kiosk.client import Agreement
from tillit.kiosk.navigation import AskFeedback, ShowAgreement, ShowBlock, StartOver
from tillit.kiosk.screens.base import KioskScreen
from tillit.kiosk.state import Session
from tillit.kiosk.widgets.choices import Choices


def size_text(size: int) -> str:
    return f"{size / 1024:.0f} kB" if size >= 1024 else f"{size} B"


class AgreementsScreen(KioskScreen):
    CSS_PATH = "agreements.tcss"
    AUTO_FOCUS = "#agreements"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", id="agreements.open"),
        Binding("f3", "block", "Block BankID", id="agreements.block"),
        Binding("escape", "log_out", "Log out", id="agreements.log-out"),
    ]

    def __init__(self, feedback_for: str | None = None) -> None:
        super().__init__()
        self.agreements: list[Agreement] = []
        self.loaded = False
        """The agreements have come from the signer (until then Open is shown, not yet usable)."""
        self.feedback_for = feedback_for
        """A signature just completed, to ask the customer's feedback on over this screen."""

    @property
    def session(self) -> Session:
        assert self.kiosk.session is not None
        return self.kiosk.session

    def compose_body(self) -> ComposeResult:
        yield Static(self.t("agreements.title", name=self.session.customer.name), classes="title")
        yield Static(self.t("agreements.lead"), id="lead", classes="lead")
        yield Choices(id="agreements")
        yield Static(self.t("agreements.loading"), id="status", classes="muted")

    def on_mount(self) -> None:
        token = self.session.token
        self.call_signer(lambda: self.kiosk.client.agreements(token), self.show)
        if self.feedback_for:
            order_ref, self.feedback_for = self.feedback_for, None
            self.navigate(AskFeedback(order_ref))

    def show(self, agreements: list[Agreement]) -> None:
        self.agreements = agreements
        options = self.query_one("#agreements", OptionList)
        options.clear_options()
        options.add_options(
            Option(f"[b]{escape(a.title)}[/b]\n  [dim]{escape(a.name)} · {size_text(a.size)}[/dim]", id=a.id)
            for a in agreements
        )
        if agreements:
            options.highlighted = 0
        # None waiting: only the words that say so, not the lead about choosing one above an empty list.
        self.loaded = True
        self.query_one("#lead", Static).display = bool(agreements)
        options.display = bool(agreements)
        self.query_one("#status", Static).update("" if agreements else self.t("agreements.none"))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open":
            if not self.loaded:
                return None  # shown greyed while loading
            return bool(self.agreements)  # not offered when nothing is waiting
        return True

    def action_open(self) -> None:
        # An ordinary binding (widgets/choices.py): a Down sent just before has moved the highlight.
        options = self.query_one("#agreements", OptionList)
        if options.highlighted is not None:
            self.open_agreement(options.highlighted)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """An agreement clicked in the list."""
        event.stop()
        self.open_agreement(event.option_index)

    def open_agreement(self, index: int) -> None:
        """The agreement in row `index`, to read and sign."""
        if self.current and self.app.screen is self and 0 <= index < len(self.agreements):
            self.navigate(ShowAgreement(self.agreements[index]))

    def action_block(self) -> None:
        self.navigate(ShowBlock(self.session.customer.personal_number))

    def action_log_out(self) -> None:
        session = self.session
        feedback_for = None if session.feedback_asked else session.order_ref
        self.navigate(StartOver(notice="welcome.logged_out", feedback_for=feedback_for))

"""How to log in: the BankID app with the password (the default), the code device (kodebrikke), or the
app alone with biometrics or the app PIN (no password; the app must have it turned on)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tillit.kiosk import orders
from tillit.kiosk.client import SignerError
from tillit.kiosk.navigation import ShowNumber
from tillit.kiosk.screens.base import KioskScreen
from tillit.kiosk.state import METHODS, Method
from tillit.kiosk.widgets.choices import Choices


class MethodScreen(KioskScreen):
    CSS_PATH = "method.tcss"
    AUTO_FOCUS = "#methods"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "choose", "Log in", id="method.choose"),
        Binding("escape", "back", "Back", id="method.back"),
    ]

    def __init__(self, number: str) -> None:
        super().__init__()
        self.number = number

    def compose_body(self) -> ComposeResult:
        yield Static(self.t("method.title"), classes="title")
        yield Static(self.t("method.help"), classes="lead muted")
        yield Choices(*(Option(self.t(f"method.{m}"), id=m) for m in METHODS), id="methods")
        yield Static("", id="status")

    def on_mount(self) -> None:
        self.query_one("#methods", OptionList).highlighted = 0

    def action_choose(self) -> None:
        # An ordinary binding (widgets/choices.py): a Down sent just before has moved the highlight.
        options = self.query_one("#methods", OptionList)
        if options.highlighted is not None:
            self.choose(options.highlighted)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """A method clicked in the list."""
        event.stop()
        self.choose(event.option_index)

    def choose(self, index: int) -> None:
        """Log in with the method in row `index`."""
        if self.busy or self.app.screen is not self:
            return
        options = self.query_one("#methods", OptionList)
        chosen = options.get_option_at_index(index).id
        method: Method = next((m for m in METHODS if m == chosen), "app")
        self.busy = True
        self.query_one("#status", Static).update(self.t("common.working"))
        client, number, text = self.kiosk.client, self.number, self.t("order.text.auth")
        self.call_signer(lambda: orders.log_in(client, number, method, text), self.show_order, self.failed)

    def failed(self, error: SignerError) -> bool:
        self.busy = False
        self.query_one("#status", Static).update("")
        return False

    def action_back(self) -> None:
        self.navigate(ShowNumber(self.number))

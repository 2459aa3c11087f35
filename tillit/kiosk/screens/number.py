"""The national identity number, checked as it is typed; Enter logs in with the customer's remembered
method (the method screen when there is none), F4 chooses the method, F5 resets a forgotten password."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static

from tillit.kiosk import orders
from tillit.kiosk.client import SignerError
from tillit.kiosk.navigation import ShowMethods, ShowWelcome
from tillit.kiosk.numbers import LENGTH, feedback
from tillit.kiosk.screens.base import KioskScreen


class NumberScreen(KioskScreen):
    CSS_PATH = "number.tcss"
    AUTO_FOCUS = "#number"
    TYPE_INTO = "#number"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Log in", priority=True, id="number.submit"),
        Binding("f4", "method", "Other login", id="number.method"),
        Binding("f5", "forgotten", "Forgotten password", id="number.forgotten-password"),
        Binding("escape", "back", "Back", id="number.back"),
    ]

    def __init__(self, typed: str = "") -> None:
        super().__init__()
        self.typed = typed[:LENGTH]
        """Every digit typed before the field could take it (the field starts with these)."""
        self._built_with = ""
        """What `typed` was when the field was built: digits after it came while the field was being mounted."""

    def compose_body(self) -> ComposeResult:
        yield Static(self.t("number.title"), classes="title")
        yield Static(self.t("number.label"), id="label", classes="lead")
        self._built_with = self.typed
        yield Input(
            self.typed,
            placeholder=self.t("number.placeholder"),
            restrict=r"[0-9]*",
            max_length=LENGTH,
            id="number",
            # Digits keep coming after the field takes focus (a burst, a fast typist): selecting what
            # is already there on focus would let the next digit replace it all.
            select_on_focus=False,
        )
        yield Static("", id="status")
        yield Static(self.t("number.enter"), id="help", classes="muted")

    def type_digits(self, digits: str) -> None:
        """Digits that reached the screen rather than the field (typed while the screen was opening).

        They go to the field as soon as it can be found: the screen counts as mounted only after its
        children have mounted and its own Mount has run, and a digit kept for a field that was
        already there would be lost (a tmux test typing at full speed lost one). Until then they are
        kept in `typed`, which `on_mount` gives the field."""
        field = next(iter(self.query("#number").results(Input)), None)
        if field is None:
            self.typed = (self.typed + digits)[:LENGTH]
            return
        field.value = (field.value + digits)[:LENGTH]
        field.cursor_position = len(field.value)
        if self.is_mounted:
            field.focus()

    def on_mount(self) -> None:
        field = self.query_one("#number", Input)
        # Digits that came after the field was built but before it could be found (while it mounted)
        # went to `typed`; they precede any the field took itself since (a tmux test lost one).
        if len(self.typed) > len(self._built_with):
            field.value = (self.typed + field.value[len(self._built_with) :])[:LENGTH]
        self.show_status(field.value)
        field.cursor_position = len(field.value)

    @property
    def number(self) -> str:
        return self.query_one("#number", Input).value

    def show_status(self, text: str, submitting: bool = False) -> bool:
        """Say under the field what `feedback` says of `text`; whether it is a whole, valid number."""
        key, params, kind = feedback(text, self.kiosk.settings.allow_test_numbers, submitting)
        status = self.query_one("#status", Static)
        status.update(self.t(key, **params) if key else "")
        status.set_class(kind == "error", "error")
        return kind == "notice"

    def on_input_changed(self, event: Input.Changed) -> None:
        self.show_status(event.value)

    def action_submit(self) -> None:
        self.after_typing(self.submit)

    def submit(self) -> None:
        if self.busy or not self.show_status(self.number, submitting=True):
            return
        self.busy = True
        self.query_one("#status", Static).update(self.t("common.working"))
        client, number, text = self.kiosk.client, self.number, self.t("order.text.auth")

        def started(result: orders.Started | None) -> None:
            if result is None:
                self.navigate(ShowMethods(number))
            else:
                self.show_order(result)

        self.call_signer(lambda: orders.log_in_remembered(client, number, text), started, self.failed)

    def failed(self, error: SignerError) -> bool:
        self.busy = False
        self.show_status(self.number)
        return False

    def action_method(self) -> None:
        self.after_typing(self.choose_method)

    def choose_method(self) -> None:
        if self.show_status(self.number, submitting=True):
            self.navigate(ShowMethods(self.number))

    def action_forgotten(self) -> None:
        self.after_typing(self.forgotten)

    def forgotten(self) -> None:
        if self.busy or not self.show_status(self.number, submitting=True):
            return
        self.busy = True
        self.query_one("#status", Static).update(self.t("common.working"))
        self.start_reset(self.number)

    def action_back(self) -> None:
        self.navigate(ShowWelcome())  # the same customer: keep the language they chose

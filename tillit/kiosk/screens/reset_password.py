"""Forgotten password, last step: the new password twice, then POST /v1/reset/complete with the answers.

The signer checks the answers and its password policy (at least 8 characters, not a common password,
not the national identity number); a refused password is said in the customer's words, answers that
did not match send the customer back to the questions with the tries left.
"""

from __future__ import annotations

import re
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static

from tillit.kiosk.client import SignerError
from tillit.kiosk.navigation import ShowQuestions
from tillit.kiosk.screens.base import OrderScreen
from tillit.kiosk.state import Order
from tillit.signer.wire import CollectResponse

PASSWORD_LENGTH = 256
# The signer's policy reasons (signer/passwords.py check_policy), in the customer's words.
POLICY_WORDS = (
    ("at least", "reset.policy_length"),
    ("at most", "reset.policy_long"),
    ("too common", "reset.policy_common"),
    ("identity number", "reset.policy_number"),
)


def attempts_in(reason: str) -> int | None:
    """The tries left in the signer's "…; 2 attempts left" reason, if it says."""
    found = re.search(r"(\d+) attempts? left", reason)
    return int(found.group(1)) if found else None


class ResetPasswordScreen(OrderScreen):
    CSS_PATH = "reset_password.tcss"
    AUTO_FOCUS = "#new"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Save password", priority=True, id="reset-password.submit"),
        Binding("escape", "cancel", "Cancel", id="reset-password.cancel"),
    ]

    def __init__(self, order: Order, questions: list[str], answers: list[str]) -> None:
        super().__init__(order)
        self.questions = questions
        self._answers = answers

    def compose_body(self) -> ComposeResult:
        yield Static(self.t("reset.password_title"), classes="title")
        yield Static(self.t("reset.password_rules"), classes="lead")
        yield Static(self.t("reset.new"), classes="label")
        yield Input(password=True, max_length=PASSWORD_LENGTH, id="new")
        yield Static(self.t("reset.repeat"), classes="label")
        yield Input(password=True, max_length=PASSWORD_LENGTH, id="repeat")
        yield Static("", id="status")
        yield Static("", id="reference", classes="muted")

    def on_mount(self) -> None:
        self.keep_reference_line()

    def start_over(self, text: str) -> None:
        """Both fields empty again, the first one focused, and why."""
        for field in self.query(Input).results(Input):
            field.value = ""
        self.query_one("#new", Input).focus()
        self.say(text)

    def action_submit(self) -> None:
        self.after_typing(self.submit)

    def submit(self) -> None:
        if self.busy or not self.still_open:
            return
        new, repeat = self.query_one("#new", Input), self.query_one("#repeat", Input)
        if self.focused is new and new.value and not repeat.value:
            self.say("")
            repeat.focus()
            return
        if not new.value or not repeat.value:
            self.say(self.t("reset.empty"))
            (repeat if new.value else new).focus()
            return
        if new.value != repeat.value:
            self.start_over(self.t("reset.mismatch"))
            return
        self.busy = True
        self.say(self.t("reset.saving"), error=False)
        order, answers, password = self.order, self._answers, new.value
        self.call_signer(
            lambda: self.kiosk.client.reset_complete(order.order_ref, answers, password),
            lambda response: self.answered(response, password),
            self.failed,
        )

    def answered(self, response: CollectResponse, password: str) -> None:
        self.busy = False
        order = self.order
        demo = self.kiosk.demo
        if response.status == "complete" and demo is not None:
            demo.password_changed(order.personal_number, password)
        self.show_order((order, response))  # complete: done; failed: why (answersLocked, expired, …)

    def wrong_answers(self, attempts_left: int | None) -> None:
        self._answers = []
        self.navigate(ShowQuestions(self.order, self.questions, attempts_left=attempts_left))

    def failed(self, error: SignerError) -> bool:
        self.busy = False
        if error.code == "wrongAnswers":
            self.wrong_answers(attempts_in(error.reason))
            return True
        if error.status == 400 and error.code == "invalidParameters":
            self.start_over(self.policy_text(error.reason))
            return True
        self.say("")
        return self.reset_trouble(error)

    def policy_text(self, reason: str) -> str:
        for words, key in POLICY_WORDS:
            if words in reason:
                return self.t(key)
        return self.t("reset.policy_other", reason=reason)

    def action_cancel(self) -> None:
        self.cancel_order()

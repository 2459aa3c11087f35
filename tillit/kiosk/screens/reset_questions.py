"""Forgotten password, after the phone approved: the customer's control questions, one field each.

The questions come from the signer (POST /v1/reset/questions) as codes, worded here in the kiosk's
language (`reset.question.<code>` in kiosk.po); Enter goes to the next empty answer,
then on to the new password. A customer without control questions is sent to the counter.
"""

from __future__ import annotations

from typing import ClassVar

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Input, Static

from tillit.kiosk.client import SignerError
from tillit.kiosk.navigation import ShowNewPassword
from tillit.kiosk.screens.base import OrderScreen
from tillit.kiosk.state import Order

ANSWER_LENGTH = 200
MIN_ANSWER = 2


class ResetQuestionsScreen(OrderScreen):
    CSS_PATH = "reset_questions.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "next", "Next", priority=True, id="reset-questions.next"),
        Binding("escape", "cancel", "Cancel", id="reset-questions.cancel"),
    ]

    def __init__(self, order: Order, questions: list[str] | None = None, attempts_left: int | None = None) -> None:
        super().__init__(order)
        self.questions = questions
        self.attempts_left = attempts_left
        """After answers that did not match: the tries the signer still allows."""

    def compose_body(self) -> ComposeResult:
        yield Static(self.t("reset.title"), classes="title")
        yield Static(self.t("reset.questions_lead"), classes="lead")
        yield Vertical(id="fields")
        yield Static("", id="status")
        yield Static("", id="reference", classes="muted")

    def on_mount(self) -> None:
        self.keep_reference_line()
        if self.questions is not None:
            self.show(self.questions)
            return
        self.say(self.t("reset.loading"), error=False)
        order_ref = self.order.order_ref
        self.call_signer(lambda: self.kiosk.client.reset_questions(order_ref), self.show, self.failed)

    def show(self, questions: list[str]) -> None:
        self.questions = questions
        fields = self.query_one("#fields", Vertical)
        for index, question in enumerate(questions):
            fields.mount(Static(f"{index + 1}. {escape(self.t(f'reset.question.{question}'))}", classes="question"))
            fields.mount(Input(max_length=ANSWER_LENGTH, id=f"answer-{index}", classes="answer"))
        if self.attempts_left is not None:
            self.say(self.t("reset.wrong_answers", attempts=self.attempts_left))
        else:
            self.say("")
        self.call_after_refresh(self.focus_first)

    def focus_first(self) -> None:
        fields = list(self.query(".answer").results(Input))
        if fields:
            fields[0].focus()

    def action_next(self) -> None:
        self.after_typing(self.next)

    def next(self) -> None:
        """The next empty answer; once all are given, the new password."""
        fields = list(self.query(".answer").results(Input))
        if not fields or self.questions is None or not self.still_open:
            return
        empty = [f for f in fields if len(f.value.strip()) < MIN_ANSWER]
        if empty:
            focused = self.focused
            here = isinstance(focused, Input) and focused in empty
            self.say(self.t("reset.answer_all") if here else "")
            (focused if isinstance(focused, Input) and here else empty[0]).focus()
            return
        self.navigate(ShowNewPassword(self.order, self.questions, [f.value for f in fields]))

    def failed(self, error: SignerError) -> bool:
        self.say("")
        return self.reset_trouble(error)

    def action_cancel(self) -> None:
        self.cancel_order()

"""Resetting a forgotten password at a kiosk: a reset order the customer approves on the phone, then
the control questions (customers/control_questions.py) answered, then the new password set, which
also unlocks a locked password."""

from __future__ import annotations

from tillit.signer import errors
from tillit.signer.context import SignerContext
from tillit.signer.customers.control_questions import normalise_answer, question_codes
from tillit.signer.guesses import Locked, Secret
from tillit.signer.kiosk_orders import collect_response, kiosk_order
from tillit.signer.orders.start import OrderStarts
from tillit.signer.passwords import check_policy
from tillit.signer.states import HintCode, OrderKind, OrderMethod, OrderStatus
from tillit.signer.store.records import Customer, Kiosk, Order
from tillit.signer.store.tx import Tx
from tillit.signer.wire import CollectResponse, ControlQuestion, OrderStarted

RESET_TEXT = "Tilbakestill passordet for BankID"


class PasswordResets:
    def __init__(self, context: SignerContext, starts: OrderStarts) -> None:
        self.context = context
        self.starts = starts

    def start_reset(
        self,
        kiosk: Kiosk,
        personal_number: str,
        method: str = OrderMethod.APP,
        user_visible_data: str | None = None,
    ) -> OrderStarted:
        """A reset order; the phone shows `user_visible_data` (the kiosk's words), else a Nynorsk text."""
        text = user_visible_data or RESET_TEXT
        return self.starts.start_order(kiosk, OrderKind.RESET, personal_number, text, method=method)

    def _reset_order(self, tx: Tx, kiosk: Kiosk, ref: str) -> tuple[Order, Customer]:
        order = kiosk_order(self.context, tx, kiosk, ref)
        if order.kind != OrderKind.RESET:
            raise errors.Conflict("this order is not a password reset")
        if order.status == OrderStatus.PENDING:
            raise errors.Conflict("the customer has not approved on the phone yet", "notApproved")
        if order.status != OrderStatus.APPROVED or order.customer_id is None:
            raise errors.Conflict("the password reset has ended", "orderEnded")
        customer = tx.customer(order.customer_id)
        assert customer is not None
        return order, customer

    def questions(self, kiosk: Kiosk, ref: str) -> list[ControlQuestion]:
        """The customer's control questions as codes (`CONTROL_QUESTION_CODES`), in the order answered."""
        with self.context.store.tx() as tx:
            _, customer = self._reset_order(tx, kiosk, ref)
            stored = tx.control_answers(customer.id)
        if customer.answers_locked:
            raise Locked(Secret.CONTROL_ANSWERS)
        if not stored:
            raise errors.Conflict("no control questions are set: ask at the counter", "noControlQuestions")
        return question_codes(stored)

    def complete_reset(self, kiosk: Kiosk, ref: str, answers: list[str], new_password: str) -> CollectResponse:
        """Check the control answers (one guess at them, counted per customer over every reset order:
        `signer.guesses`) and set the new password, which also unlocks a locked password."""
        context = self.context
        with context.store.tx() as tx:
            order, customer = self._reset_order(tx, kiosk, ref)
            stored = tx.control_answers(customer.id)
        if not stored:
            raise errors.Conflict("no control questions are set: ask at the counter", "noControlQuestions")
        if len(answers) != len(stored):
            raise errors.InvalidInput(f"answer all {len(stored)} control questions")
        check_policy(new_password, customer.personal_number)
        at = context.clock()
        with context.store.tx() as tx:
            order, customer = self._reset_order(tx, kiosk, ref)
            try:
                admission = context.guesses.admit(tx, customer.id, Secret.CONTROL_ANSWERS, f"reset:{ref}")
            except Locked:
                tx.fail_order(ref, [OrderStatus.APPROVED], HintCode.ANSWERS_LOCKED, at)
                return collect_response(context, tx.order(ref) or order, customer)
        # Every answer is checked, also after a wrong one: the time taken tells nothing.
        matches = [
            context.passwords.verify(answer_hash, normalise_answer(answer))
            for (_, answer_hash), answer in zip(stored, answers, strict=True)
        ]
        correct = all(matches)
        new_hash = context.passwords.hash(new_password) if correct else ""
        new_seal = context.seals.password(customer.id, new_hash) if correct else ""
        at = context.clock()
        with context.store.tx() as tx:
            verdict = context.guesses.decide(tx, admission, correct)
            current = tx.order(ref)
            ended: errors.SignerError
            if current is None or current.status != OrderStatus.APPROVED:
                ended = errors.Conflict("the password reset has ended", "orderEnded")
            elif not verdict.succeeded:
                tx.audit("password.reset_wrong_answers", customer.id, at, order=ref, failures=verdict.failures)
                if verdict.locked:
                    tx.fail_order(ref, [OrderStatus.APPROVED], HintCode.ANSWERS_LOCKED, at)
                    return collect_response(context, tx.order(ref) or current, customer)
                ended = errors.InvalidInput(
                    f"the answers do not match; {errors.attempts_left(verdict.attempts_left)}", "wrongAnswers"
                )
            else:
                tx.update_customer(customer.id, password_hash=new_hash, password_seal=new_seal)
                context.guesses.unlock(tx, customer.id, Secret.PASSWORD)
                tx.transition(
                    ref, [OrderStatus.APPROVED], OrderStatus.COMPLETE, HintCode.COMPLETE, completed_at=at, level="reset"
                )
                tx.audit(
                    "password.reset",
                    customer.id,
                    at,
                    order=ref,
                    kiosk=kiosk.id,
                    wasLocked=bool(customer.password_locked),
                )
                tx.audit("order.completed", ref, at, level="reset")
                return collect_response(context, tx.order(ref) or order, customer)
        raise ended  # after the commit, so the counted guess stays

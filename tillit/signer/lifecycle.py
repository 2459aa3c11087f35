"""Around a login: blocking (sperre) and unblocking, forgotten passwords, and minors' guardians."""

from __future__ import annotations

import secrets
import uuid
from typing import TYPE_CHECKING, Any

from tillit.hsm.errors import HsmError
from tillit.signer import errors
from tillit.signer.certificate_state import certificate_state
from tillit.signer.guesses import Locked, Secret
from tillit.signer.passwords import check_policy
from tillit.signer.ratelimit import SlidingWindow
from tillit.signer.references import new_reference
from tillit.signer.store.records import ALL_KINDS, Customer, Kiosk, Order
from tillit.signer.store.tx import Tx
from tillit.signer.wire import CollectResponse, ControlQuestion, OrderStarted

if TYPE_CHECKING:
    from tillit.signer.service import Signer

CONTROL_QUESTIONS = (
    "Kva heitte det første kjæledyret ditt?",
    "I kva gate budde du då du var barn?",
    "Kva er mellomnamnet til mor di?",
)
"""The questions as stored beside the answers (and asked by `tillit-signer customers add`)."""
CONTROL_QUESTION_CODES: tuple[ControlQuestion, ...] = ("firstPet", "childhoodStreet", "mothersMiddleName")
"""What the API sends instead of the sentences, in the same order: kiosks word them in the customer's language."""
RESET_TEXT = "Tilbakestill passordet for BankID"
# Why an administrator blocks (`tillit-signer customers block --reason`); kept in the audit log and shown
# by `customers show`. A kiosk's block carries its own text.
BLOCK_REASONS = {
    "lost-phone": "the phone or code device is lost or stolen",
    "suspected-misuse": "someone else may be using the BankID",
    "customer-request": "the customer asked for it",
    "deceased": "the customer has died",
    "bank-decision": "the bank withdraws the BankID; say why with --note",
}
GUARDIAN_APPROVAL_SECONDS = 7 * 24 * 3600
BLOCKABLE = ("pending", "approved", "verifying", "signing")


def block_reason(reason: str | None, note: str | None = None) -> str:
    """The text an administrator's block is recorded with: one of `BLOCK_REASONS`, then the note;
    InvalidInput listing the accepted reasons for anything else."""
    accepted = "; ".join(f"{code} ({meaning})" for code, meaning in BLOCK_REASONS.items())
    code = (reason or "").strip().lower()
    if code not in BLOCK_REASONS:
        given = f"'{reason}' is not one of them" if reason else "it is missing"
        raise errors.InvalidInput(f"--reason says why the BankID is blocked ({given}): {accepted}")
    note = " ".join((note or "").split())
    return f"{code}: {note}" if note else code


def normalise_answer(answer: str) -> str:
    return " ".join(answer.casefold().split())


class Lifecycle:
    def __init__(self, service: Signer) -> None:
        self.service = service
        self._unproven_blocks = SlidingWindow(service.settings.kiosk_blocks_per_hour, 3600.0, service.clock)

    # -- control questions ---------------------------------------------------------------------

    def hash_answers(self, answers: list[str]) -> list[tuple[str, str]]:
        if len(answers) != len(CONTROL_QUESTIONS):
            raise errors.InvalidInput(f"give {len(CONTROL_QUESTIONS)} answers to the control questions")
        hashed = []
        for question, answer in zip(CONTROL_QUESTIONS, answers, strict=True):
            normalised = normalise_answer(answer)
            if len(normalised) < 2 or len(normalised) > 200:
                raise errors.InvalidInput("each control answer is 2-200 characters")
            hashed.append((question, self.service.passwords.hash(normalised)))
        return hashed

    # -- block and unblock ---------------------------------------------------------------------

    def block_from_kiosk(self, kiosk: Kiosk, personal_number: str, reason: str, order_ref: str | None) -> None:
        """A block asked for at a kiosk. With `order_ref`, a completed login of this customer at this
        kiosk, it is the customer's own; without (the phone is lost, so nobody can approve), it counts
        against the kiosk's hourly budget of such blocks (`kiosk_blocks_per_hour`), so that a kiosk
        token cannot block a list of numbers. The answer does not tell whether the number had a BankID."""
        service = self.service
        number = service.parse_number(personal_number)
        if order_ref:
            collected = service.collect(kiosk, order_ref)
            customer = collected.completion_data.customer if collected.completion_data else {}
            if collected.status != "complete" or customer.get("personalNumber") != number.value:
                raise errors.Forbidden("the order does not authenticate this customer")
        else:
            wait = self._unproven_blocks.wait_time(kiosk.id)
            if wait > 0:
                raise errors.RateLimited(
                    "this kiosk has blocked too many BankIDs without the customer's login; the customer "
                    f"can block with a login, or the bank's staff; try again in {int(wait) + 1} s",
                    "rateLimited",
                    wait,
                )
            self._unproven_blocks.add(kiosk.id)
        self.block(number.value, reason, by=f"kiosk:{kiosk.id}" + ("" if order_ref else " (without login)"))

    def block(self, personal_number: str, reason: str, by: str) -> bool:
        """Block at once: open orders fail, devices go, the certificate is revoked, the key stops
        signing. True if this call blocked the BankID (False: unknown number or already blocked)."""
        service = self.service
        number = service.parse_number(personal_number)
        reason = (reason or "blocked").strip()[:200]
        at = service.clock()
        with service.store.tx() as tx:
            customer = tx.customer_by_number(number.value)
            if customer is None or customer.status == "blocked":
                return False
            tx.update_customer(customer.id, status="blocked", blocked_reason=reason)
            devices = tx.deactivate_devices(customer.id, at)
            for order in tx.open_orders_for_customer(customer.id, ALL_KINDS):
                if tx.transition(order.ref, BLOCKABLE, "failed", "blocked", completed_at=at):
                    tx.audit("order.failed", order.ref, at, hint="blocked")
            for device_id in devices:
                tx.audit("device.deactivated", device_id, at, customer=customer.id, why="blocked")
            tx.audit("customer.blocked", customer.id, at, by=by, reason=reason)
        try:
            service.hsm.set_signing_allowed(customer.key_label, False)
            if customer.cert_serial:
                service.ca.revoke(int(customer.cert_serial, 16), "certificate_hold")
        except HsmError as e:
            # The state change above stands (no order can complete); the administrator sees this.
            raise errors.Unavailable(f"blocked, but the HSM could not finish: {e}") from e
        with service.store.tx() as tx:
            tx.audit("certificate.revoked", customer.id, at, serial=customer.cert_serial, reason="blocked")
        for device_id in devices:
            service.notifier.notify(device_id)
        return True

    def unblock(self, personal_number: str, by: str) -> Customer:
        """A fresh key and certificate; the customer then activates the app again."""
        service = self.service
        customer = service.customer(personal_number)
        if customer.status != "blocked":
            raise errors.Conflict("the customer is not blocked")
        self._renew_key(customer, "customer.unblocked", by, status="active", blocked_reason=None)
        return service.customer(personal_number)

    def reissue_certificate(self, personal_number: str, by: str) -> Customer:
        """After `revoke-certificate` (or once the certificate has expired): a fresh key and
        certificate, so the customer can sign again.
        The old certificate must be revoked first (two valid certificates for one customer would
        leave the old key usable by whoever kept it)."""
        service = self.service
        customer = service.customer(personal_number)
        if customer.status != "active":
            raise errors.Conflict(f"the customer is {customer.status.replace('_', ' ')}: unblock or approve first")
        if certificate_state(service.ca, customer).valid:
            raise errors.Conflict("the customer's certificate is still valid: revoke it first")
        self._renew_key(customer, "certificate.reissued", by)
        return service.customer(personal_number)

    def _renew_key(self, customer: Customer, event: str, by: str, **changes: Any) -> None:
        """The next key generation in the HSM with its certificate; passwords unlocked."""
        service = self.service
        generation = customer.key_generation + 1
        customer.key_label = f"customer:{customer.id}:{generation}"
        service._issue_key(customer)
        with service.store.tx() as tx:
            tx.update_customer(
                customer.id,
                key_label=customer.key_label,
                key_generation=generation,
                cert_serial=customer.cert_serial,
                **changes,
            )
            service.guesses.unlock(tx, customer.id, Secret.PASSWORD)
            tx.audit(event, customer.id, service.clock(), by=by, certificate=customer.cert_serial)

    # -- forgotten password --------------------------------------------------------------------

    def start_reset(
        self, kiosk: Kiosk, personal_number: str, method: str = "app", user_visible_data: str | None = None
    ) -> OrderStarted:
        """A reset order; the phone shows `user_visible_data` (the kiosk's words), else a Nynorsk text."""
        return self.service.start_order(kiosk, "reset", personal_number, user_visible_data or RESET_TEXT, method=method)

    def _reset_order(self, tx: Tx, kiosk: Kiosk, ref: str) -> tuple[Order, Customer]:
        order = self.service._kiosk_order(tx, kiosk, ref)
        if order.kind != "reset":
            raise errors.Conflict("this order is not a password reset")
        if order.status == "pending":
            raise errors.Conflict("the customer has not approved on the phone yet", "notApproved")
        if order.status != "approved" or order.customer_id is None:
            raise errors.Conflict("the password reset has ended", "orderEnded")
        customer = tx.customer(order.customer_id)
        assert customer is not None
        return order, customer

    def questions(self, kiosk: Kiosk, ref: str) -> list[ControlQuestion]:
        """The customer's control questions as codes (`CONTROL_QUESTION_CODES`), in the order answered."""
        with self.service.store.tx() as tx:
            _, customer = self._reset_order(tx, kiosk, ref)
            stored = tx.control_answers(customer.id)
        if customer.answers_locked:
            raise Locked(Secret.CONTROL_ANSWERS)
        if not stored:
            raise errors.Conflict("no control questions are set: ask at the counter", "noControlQuestions")
        codes = dict(zip(CONTROL_QUESTIONS, CONTROL_QUESTION_CODES, strict=True))
        return [codes.get(question, CONTROL_QUESTION_CODES[index]) for index, (question, _) in enumerate(stored)]

    def complete_reset(self, kiosk: Kiosk, ref: str, answers: list[str], new_password: str) -> CollectResponse:
        """Check the control answers (one guess at them, counted per customer over every reset order:
        `signer.guesses`) and set the new password, which also unlocks a locked password."""
        service = self.service
        with service.store.tx() as tx:
            order, customer = self._reset_order(tx, kiosk, ref)
            stored = tx.control_answers(customer.id)
        if not stored:
            raise errors.Conflict("no control questions are set: ask at the counter", "noControlQuestions")
        if len(answers) != len(stored):
            raise errors.InvalidInput(f"answer all {len(stored)} control questions")
        check_policy(new_password, customer.personal_number)
        at = service.clock()
        with service.store.tx() as tx:
            order, customer = self._reset_order(tx, kiosk, ref)
            try:
                admission = service.guesses.admit(tx, customer.id, Secret.CONTROL_ANSWERS, f"reset:{ref}")
            except Locked:
                tx.transition(ref, ["approved"], "failed", "answersLocked", completed_at=at)
                tx.audit("order.failed", ref, at, hint="answersLocked")
                return service._collect_response(tx.order(ref) or order, customer)
        # Every answer is checked, also after a wrong one: the time taken tells nothing.
        matches = [
            service.passwords.verify(answer_hash, normalise_answer(answer))
            for (_, answer_hash), answer in zip(stored, answers, strict=True)
        ]
        correct = all(matches)
        new_hash = service.passwords.hash(new_password) if correct else ""
        at = service.clock()
        with service.store.tx() as tx:
            verdict = service.guesses.decide(tx, admission, correct)
            current = tx.order(ref)
            ended: errors.SignerError
            if current is None or current.status != "approved":
                ended = errors.Conflict("the password reset has ended", "orderEnded")
            elif not verdict.succeeded:
                tx.audit("password.reset_wrong_answers", customer.id, at, order=ref, failures=verdict.failures)
                if verdict.locked:
                    tx.transition(ref, ["approved"], "failed", "answersLocked", completed_at=at)
                    tx.audit("order.failed", ref, at, hint="answersLocked")
                    return service._collect_response(tx.order(ref) or current, customer)
                ended = errors.InvalidInput(
                    f"the answers do not match; {verdict.attempts_left} attempts left", "wrongAnswers"
                )
            else:
                tx.update_customer(customer.id, password_hash=new_hash)
                service.guesses.unlock(tx, customer.id, Secret.PASSWORD)
                tx.transition(ref, ["approved"], "complete", "complete", completed_at=at, level="reset")
                tx.audit(
                    "password.reset",
                    customer.id,
                    at,
                    order=ref,
                    kiosk=kiosk.id,
                    wasLocked=bool(customer.password_locked),
                )
                tx.audit("order.completed", ref, at, level="reset")
                return service._collect_response(tx.order(ref) or order, customer)
        raise ended  # after the commit, so the counted guess stays

    def admin_reset_password(self, personal_number: str, new_password: str, by: str) -> None:
        service = self.service
        customer = service.customer(personal_number)
        check_policy(new_password, customer.personal_number)
        password_hash = service.passwords.hash(new_password)
        with service.store.tx() as tx:
            tx.update_customer(customer.id, password_hash=password_hash)
            service.guesses.unlock(tx, customer.id, Secret.PASSWORD)
            tx.audit("password.reset", customer.id, service.clock(), by=by)

    # -- minors --------------------------------------------------------------------------------

    def request_guardian_approval(self, minor: Customer, guardian: Customer) -> str:
        """An approval request on the guardian's phone naming the minor; returns its order ref."""
        service = self.service
        at = service.clock()
        with service.store.tx() as tx:
            device = tx.active_device(guardian.id)
            if device is None:
                raise errors.InvalidInput("the guardian must have an active app")
            order = Order(
                ref=str(uuid.uuid4()),
                kind="guardian",
                customer_id=guardian.id,
                kiosk_id="guardian",
                reference=new_reference(),
                user_visible_data=f"Godkjenn BankID for {minor.name} (fødd {minor.born}) som verje",
                nonce=secrets.token_urlsafe(24),
                method="app",
                created_at=at,
                expires_at=at + GUARDIAN_APPROVAL_SECONDS,
                status="pending",
                hint_code="outstandingTransaction",
                device_id=device.id,
                level=None,
                approved_at=None,
                completed_at=None,
                completion=None,
                agreement_id=None,
                signatures=0,
                subject_id=minor.id,
            )
            tx.insert_order(order)
            tx.audit("guardian.requested", minor.id, at, guardian=guardian.id, order=order.ref)
        service.notifier.notify(device.id)
        return order.ref

    def guardian_decided(self, tx: Tx, order: Order, approved: bool) -> None:
        """Called inside the transaction that records the guardian's decision."""
        at = self.service.clock()
        assert order.subject_id is not None
        minor = tx.customer(order.subject_id)
        if minor is None or minor.status != "pending_guardian":
            return
        if approved:
            tx.transition(order.ref, ["approved"], "complete", "complete", completed_at=at, level="guardian")
            tx.update_customer(minor.id, status="active")
            tx.audit("guardian.approved", minor.id, at, guardian=order.customer_id, order=order.ref)
        else:
            tx.update_customer(minor.id, status="guardian_declined")
            tx.audit("guardian.declined", minor.id, at, guardian=order.customer_id, order=order.ref)

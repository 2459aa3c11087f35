"""Activating the BankID app on a phone, the three ways the bank offers:

1. `codedevice`: national identity number + a one-time code from the code device + password;
2. `sms-email`: a code by SMS and a code by e-mail (through the outbox sender) + password;
3. `old-device`: the customer's current phone approves the new one + password.

The new phone proves it holds its key by signing `b"tillit-activation-v1\\n" + activationId`.
Codes are single-use, live 10 minutes (`activation_ttl_seconds`), and five wrong codes end the
activation. The password is a guess like any other (`signer.guesses`): admitted under the customer's
lock, counted in the transaction that binds the device, so no number of concurrent completions checks
more than the lock allows, and a right password after the lock binds nothing. Success makes the new
key the customer's one active device, in that same transaction; the old one is deactivated at once.

With the default sender (the store's outbox, no SMS or e-mail leaves), the start's answer to
`sms-email` says `"delivery": "outbox"`, for every number alike, so the app can tell where the codes are.

Unknown numbers get the same answers as known ones, and customers without a code device the same as
customers with one, so activation reveals nobody's enrolment. Starting an activation sends messages
or a push without any login, so it is capped per number and overall (`activations_per_number_hour`,
`activations_per_hour`), and the old phone is shown a fixed text, never the new device's name (which
the requester chooses).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from typing import Any

from tillit.signer import errors
from tillit.signer.context import SignerContext
from tillit.signer.device_keys import device_key_der, verify_device_signature
from tillit.signer.devices.binding import DeviceBinding
from tillit.signer.devices.codedevices import CodeDevices
from tillit.signer.guesses import Admission, Locked, Secret
from tillit.signer.messages import OUTBOX, Message
from tillit.signer.passwords import keep_rehashed
from tillit.signer.ratelimit import Limit
from tillit.signer.references import new_reference
from tillit.signer.states import ATTEMPTS_BEFORE_LOCK, HintCode, OrderKind, OrderMethod, OrderStatus
from tillit.signer.store.records import Activation, Customer, Order
from tillit.signer.store.tx import Tx
from tillit.signer.wire import activation_proof_message

METHODS = ("codedevice", "sms-email", "old-device")
ACTIVATION_KIOSK = "activation"


def _code_hash(activation_id: str, code: str) -> str:
    return hashlib.sha256(f"{activation_id}:{code}".encode()).hexdigest()


def _new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


class Activations:
    def __init__(self, context: SignerContext, binding: DeviceBinding, code_devices: CodeDevices) -> None:
        self.context = context
        self.binding = binding
        self.code_devices = code_devices
        settings = context.settings
        self._per_number = Limit("activation-number", settings.activations_per_number_hour, 3600.0)
        self._overall = Limit("activation", settings.activations_per_hour, 3600.0)

    def _admit_start(self, number: str) -> None:
        """Count one activation start against the per-number and overall hourly caps, or raise 429."""
        full = self.context.limits.windows.admit([(self._per_number, number), (self._overall, "")])
        if full is not None:
            limit, wait = full
            what = " for this personal number" if limit is self._per_number else ""
            reason = f"too many app activations{what}; try again in {int(wait) + 1} s"
            raise errors.RateLimited(reason, "rateLimited", wait)

    def start(self, personal_number: str, method: str, device_name: str, public_key_pem: str) -> dict[str, Any]:
        context = self.context
        if method not in METHODS:
            raise errors.InvalidInput(f"method must be one of {', '.join(METHODS)}")
        number = context.parse_number(personal_number)
        der = device_key_der(public_key_pem.encode())
        context.limits.admit(None, number.value)  # against SMS floods and push floods to the old phone
        self._admit_start(number.value)
        at = context.clock()
        activation = Activation(
            id=str(uuid.uuid4()),
            customer_id=None,
            method=method,
            device_name=(device_name.strip() or "phone")[:100],
            public_key=der,
            created_at=at,
            expires_at=at + context.settings.activation_ttl_seconds,
            status="open",
            sms_code_hash=None,
            email_code_hash=None,
            failures=0,
            order_ref=None,
            personal_number=number.value,
        )
        reference: str | None = None
        notify: str | None = None
        messages: list[Message] = []
        with context.store.tx() as tx:
            customer = tx.customer_by_number(number.value)
            usable = customer is not None and customer.status == "active"
            if customer is not None:
                activation.customer_id = customer.id
            if method == "sms-email":
                sms, email = _new_code(), _new_code()
                activation.sms_code_hash = _code_hash(activation.id, sms)
                activation.email_code_hash = _code_hash(activation.id, email)
                if usable and customer is not None:
                    messages = [
                        Message(at, "sms", customer.mobile, "BankID-aktivering", f"Din BankID-kode: {sms}"),
                        Message(
                            at, "email", customer.email, "Aktivering av BankID", f"Koden for å aktivere BankID: {email}"
                        ),
                    ]
            elif method == "old-device":
                old = tx.active_device(customer.id) if usable and customer is not None else None
                reference = new_reference()
                if old is not None and customer is not None:
                    order = Order.new(
                        OrderKind.ACTIVATION,
                        kiosk_id=ACTIVATION_KIOSK,
                        reference=reference,
                        # A fixed text: the device name is the requester's to choose (phishing).
                        user_visible_data="Aktiver BankID på ein ny telefon",
                        method=OrderMethod.APP,
                        at=at,
                        lifetime=context.settings.order_ttl_seconds,
                        customer_id=customer.id,
                        device_id=old.id,
                    )
                    tx.insert_order(order)
                    activation.order_ref = order.ref
                    notify = old.id
            tx.insert_activation(activation)
            tx.audit("activation.started", activation.id, at, method=method, customer=activation.customer_id)
        for message in messages:  # after the commit: a rolled-back activation sends nothing
            context.messages.send(message)
        if notify:
            context.notifier.notify(notify)
        answer: dict[str, Any] = {
            "activationId": activation.id,
            "method": method,
            "expiresAt": int(activation.expires_at),
        }
        if reference:
            answer["reference"] = reference
        if method == "sms-email" and context.settings.message_sender == OUTBOX:
            # A demo or test signer: the codes are in its outbox, and the phone can say so.
            answer["delivery"] = OUTBOX
        return answer

    def complete(
        self,
        activation_id: str,
        proof_b64: str,
        password: str,
        sms_code: str | None = None,
        email_code: str | None = None,
        code: str | None = None,
    ) -> dict[str, Any]:
        context = self.context
        with context.store.tx() as tx:
            outcome = self._admit(tx, activation_id, proof_b64, sms_code, email_code, code)
        if isinstance(outcome, errors.SignerError):
            raise outcome  # raised after the commit, so the counted wrong code or the ended activation stays
        activation, customer = outcome
        intact = context.seals.password_intact(customer)  # an HSM HMAC, before the guess is admitted
        admission = self._admit_password(activation_id, customer)
        if isinstance(admission, errors.SignerError):
            raise admission  # after the commit: the activation has ended
        correct = intact and context.passwords.verify(customer.password_hash, password)
        rehashed = context.seals.rehashed(context.passwords, customer, password) if correct else None
        at = context.clock()
        with context.store.tx() as tx:
            verdict = context.guesses.decide(tx, admission, correct)
            current = tx.activation(activation_id)
            bound = None
            if verdict.succeeded and current is not None and current.status == "open":
                keep_rehashed(tx, customer, rehashed, at)
                tx.update_activation(activation_id, status="done")
                if activation.order_ref:
                    tx.transition(
                        activation.order_ref,
                        [OrderStatus.APPROVED],
                        OrderStatus.COMPLETE,
                        HintCode.COMPLETE,
                        completed_at=at,
                    )
                bound = self.binding.bind_device_in(
                    tx, customer, activation.public_key, activation.device_name, how=activation.method
                )
            elif verdict.locked and current is not None and current.status == "open":
                tx.update_activation(activation_id, status="failed")
        if bound is not None:
            self.binding.notify_rebound(*bound)
            device = bound[0]
            return {"deviceId": device.id, "customer": {"name": customer.name}, "activatedAt": device.activated_at}
        # Raised after the commit: the wrong password counts.
        if verdict.locked:
            why = "the password is locked" if correct else "wrong password: the password is now locked"
            raise errors.Forbidden(why, "passwordLocked")
        if correct:  # another completion of this activation won
            raise errors.Gone("this activation has ended; start a new one", "activationEnded")
        raise errors.InvalidInput(f"wrong password; {errors.attempts_left(verdict.attempts_left)}", "wrongPassword")

    def _admit_password(self, activation_id: str, customer: Customer) -> Admission | errors.SignerError:
        """Admit the password guess (`signer.guesses`); a locked password ends the activation."""
        context = self.context
        with context.store.tx() as tx:
            try:
                return context.guesses.admit(tx, customer.id, Secret.PASSWORD, f"activation:{activation_id}")
            except Locked as locked:
                tx.update_activation(activation_id, status="failed")
                tx.audit("activation.failed", activation_id, context.clock(), why="passwordLocked")
                return locked

    def _admit(
        self,
        tx: Tx,
        activation_id: str,
        proof_b64: str,
        sms_code: str | None,
        email_code: str | None,
        code: str | None,
    ) -> tuple[Activation, Customer] | errors.SignerError:
        """Check the proof and the codes. Failures that change state are returned, not raised, so the
        caller commits them before raising; the others raise (nothing to keep)."""
        at = self.context.clock()
        activation = tx.activation(activation_id)
        if activation is None:
            raise errors.NotFound("no such activation")
        try:
            proof = base64.b64decode(proof_b64, validate=True)
        except ValueError:
            raise errors.InvalidInput("the proof is not valid base64") from None
        if not verify_device_signature(activation.public_key, proof, activation_proof_message(activation.id)):
            raise errors.Unauthorized("the proof is not signed by the new device key")
        if activation.status != "open":
            raise errors.Gone("this activation has ended; start a new one", "activationEnded")
        if at >= activation.expires_at:
            tx.update_activation(activation.id, status="expired")
            tx.audit("activation.expired", activation.id, at)
            return errors.Gone("the activation codes have expired; start a new one", "activationExpired")
        customer = tx.customer(activation.customer_id) if activation.customer_id else None
        codes_ok = self._check_codes(tx, activation, customer, sms_code, email_code, code)
        if not codes_ok:
            failures = activation.failures + 1
            ended = failures >= ATTEMPTS_BEFORE_LOCK
            tx.update_activation(activation.id, failures=failures, status="failed" if ended else "open")
            tx.audit("activation.wrong_code", activation.id, at, failures=failures)
            if ended:
                return errors.Gone("five wrong codes: the activation has ended", "activationEnded")
            left = ATTEMPTS_BEFORE_LOCK - failures
            return errors.InvalidInput(f"wrong code; {errors.attempts_left(left)}", "wrongActivationCode")
        if activation.method == "old-device":
            order = tx.order(activation.order_ref) if activation.order_ref else None
            if order is None or customer is None:
                raise errors.Conflict("the old phone has not approved the new one", "notApproved")
            if order.status == OrderStatus.PENDING and at < order.expires_at:
                raise errors.Conflict("waiting for approval on your old phone", "notApproved")
            if order.status != OrderStatus.APPROVED:
                tx.update_activation(activation.id, status="failed")
                tx.audit("activation.failed", activation.id, at, why=order.hint_code)
                return errors.Gone("the old phone did not approve the new one", "activationEnded")
        if customer is None or customer.status != "active":
            raise errors.Forbidden("this BankID cannot be activated", "notActivatable")
        return activation, customer

    def _check_codes(
        self,
        tx: Tx,
        activation: Activation,
        customer: Customer | None,
        sms_code: str | None,
        email_code: str | None,
        code: str | None,
    ) -> bool:
        if activation.method == "sms-email":
            if not (sms_code and email_code and activation.sms_code_hash and activation.email_code_hash):
                return False
            sms_ok = hmac.compare_digest(_code_hash(activation.id, sms_code.strip()), activation.sms_code_hash)
            email_ok = hmac.compare_digest(_code_hash(activation.id, email_code.strip()), activation.email_code_hash)
            return customer is not None and sms_ok and email_ok
        if activation.method == "codedevice":
            if activation.personal_number is None:  # started before numbers were kept: start again
                return False
            customer_id = customer.id if customer is not None else None
            return self.code_devices.check(tx, activation.personal_number, customer_id, (code or "").strip())
        return True

"""Enrolling customers, listing them, and unlocking their passwords and control answers."""

from __future__ import annotations

import uuid
from datetime import date

from tillit.signer import errors
from tillit.signer.context import SignerContext
from tillit.signer.customers.control_questions import hash_answers
from tillit.signer.customers.guardians import Guardians
from tillit.signer.customers.keys import CustomerKeys
from tillit.signer.customers.lookup import find_customer
from tillit.signer.passwords import check_policy
from tillit.signer.store.records import Customer
from tillit.signer.wire import visible_text_problem

ADULT_AGE = 18
MINIMUM_AGE = 13
_MOBILE_DIGITS = 8


def validate_mobile(mobile: str) -> str:
    compact = mobile.replace(" ", "")
    if not (compact.startswith("+47") and len(compact) == 3 + _MOBILE_DIGITS and compact[3:].isdigit()):
        raise errors.InvalidInput("a Norwegian mobile number is required: +47 and 8 digits")
    return compact


def validate_email(email: str) -> str:
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 254 or " " in email:
        raise errors.InvalidInput("the e-mail address is not valid")
    return email


class Enrolment:
    def __init__(self, context: SignerContext, keys: CustomerKeys, guardians: Guardians) -> None:
        self.context = context
        self.keys = keys
        self.guardians = guardians

    def enrol(
        self,
        personal_number: str,
        name: str,
        mobile: str,
        email: str,
        password: str,
        guardian_number: str | None = None,
        control_answers: list[str] | None = None,
    ) -> Customer:
        """A new customer with a key and certificate; a minor (13-17) waits for the guardian's approval.
        A guardian is refused for an adult, as is a minor without one."""
        context = self.context
        number = context.parse_number(personal_number)
        age = number.age(date.today())
        if age > 130:
            raise errors.InvalidInput("the date of birth is not plausible for a living person")
        if age < MINIMUM_AGE:
            raise errors.InvalidInput(f"a BankID needs the customer to be at least {MINIMUM_AGE} years old")
        status = "active"
        guardian: Customer | None = None
        if guardian_number and age >= ADULT_AGE:  # ignoring it would leave the admin believing it was taken
            raise errors.InvalidInput(
                f"the customer is {age}: only customers aged 13-17 have a guardian; leave out --guardian"
            )
        if age < ADULT_AGE:
            if not guardian_number:
                raise errors.InvalidInput(
                    "customers aged 13-17 need a guardian's approval: give --guardian GUARDIAN_NUMBER"
                )
            with context.store.tx() as tx:
                guardian = tx.customer_by_number(context.parse_number(guardian_number).value)
                if guardian is None or guardian.status != "active" or tx.active_device(guardian.id) is None:
                    raise errors.InvalidInput("the guardian must be an enrolled adult with an active app")
            status = "pending_guardian"
        name = name.strip()
        if not name or len(name) > 200:
            raise errors.InvalidInput("a name is 1-200 characters")
        problem = visible_text_problem(name, lines=False)  # in the certificate, on receipts and kiosks
        if problem:
            raise errors.InvalidInput(f"a name {problem}")
        mobile = validate_mobile(mobile)
        email = validate_email(email)
        check_policy(password, number.value)
        hashed_answers = hash_answers(context.passwords, control_answers) if control_answers else []
        with context.store.tx() as tx:
            if tx.customer_by_number(number.value) is not None:
                raise errors.Conflict("this customer is already enrolled")
        customer_id = str(uuid.uuid4())
        password_hash = context.passwords.hash(password)
        customer = Customer(
            id=customer_id,
            personal_number=number.value,
            name=name,
            mobile=mobile,
            email=email,
            born=number.born.isoformat(),
            password_hash=password_hash,
            password_seal=context.seals.password(customer_id, password_hash),
            failed_passwords=0,
            password_locked=0,
            status=status,
            key_label=f"customer:{customer_id}",
            cert_serial=None,
            guardian_id=guardian.id if guardian else None,
            last_method=None,
            created_at=context.clock(),
        )
        self.keys.issue(customer)
        with context.store.tx() as tx:
            tx.insert_customer(customer)
            tx.set_control_answers(customer.id, hashed_answers)
            tx.audit("customer.enrolled", customer.id, context.clock(), status=status, certificate=customer.cert_serial)
        if guardian is not None:
            self.guardians.request_approval(customer, guardian)
        return customer

    def customers(self) -> list[Customer]:
        with self.context.store.tx() as tx:
            return tx.customers()

    def unlock(self, personal_number: str, by: str = "administrator") -> Customer:
        """Clear the password's and the control answers' failures and locks."""
        context = self.context
        customer = find_customer(context, personal_number)
        with context.store.tx() as tx:
            context.guesses.unlock(tx, customer.id)
            tx.audit("customer.unlocked", customer.id, context.clock(), by=by)
        return find_customer(context, personal_number)

"""What `customers list` and `customers show` print about customers, read from the store and the CA
ledger alone.

Nothing of it is on the token: a customer's record, status, block reason, password and control
answer counts and active app are in the store, and the certificate's serial, end and revocation in
the CA ledger (a database, `tillit.hsm.ca_ledger`). So support staff can look a customer up while
the HSM is away; the commands that change a customer open the whole signer and need the HSM.
"""

from __future__ import annotations

from typing import Any

from tillit.hsm.ca_ledger import CaLedger
from tillit.signer import errors
from tillit.signer.certificate_state import ledger_certificate_state
from tillit.signer.context import parse_personal_number
from tillit.signer.store.base import Store


def listed_customers(store: Store) -> list[dict[str, Any]]:
    """Every enrolled customer as `Customer.public` gives it, in the store's order."""
    with store.read() as tx:
        return [customer.public() for customer in tx.customers()]


def customer_overview(store: Store, ledger: CaLedger, personal_number: str, allow_test_numbers: bool) -> dict[str, Any]:
    """One customer as `Customer.public` gives it, with `blockedReason`, `certificate` (its state in
    the CA ledger now, `CertificateState.public`) and `device` (the active app, or None).
    InvalidInput for a malformed number (test numbers only with `allow_test_numbers`), NotFound
    when no customer has it."""
    number = parse_personal_number(personal_number, allow_test_numbers)
    with store.read() as tx:
        customer = tx.customer_by_number(number.value)
        if customer is None:
            raise errors.NotFound("no such customer")
        device = tx.active_device(customer.id)
    overview = customer.public()
    overview["blockedReason"] = customer.blocked_reason
    overview["certificate"] = ledger_certificate_state(ledger, customer).public()
    overview["device"] = device.public() if device else None
    return overview

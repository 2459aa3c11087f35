"""Finding a customer by national identity number."""

from __future__ import annotations

from tillit.signer import errors
from tillit.signer.context import SignerContext
from tillit.signer.store.records import Customer


def find_customer(context: SignerContext, personal_number: str) -> Customer:
    """The enrolled customer with this number; 404 when there is none, 400 for a malformed number."""
    number = context.parse_number(personal_number)
    with context.store.tx() as tx:
        found = tx.customer_by_number(number.value)
    if found is None:
        raise errors.NotFound("no such customer")
    return found

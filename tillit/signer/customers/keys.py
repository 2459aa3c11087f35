"""Customers' keys in the HSM and their certificates: issuing, renewing, revoking."""

from __future__ import annotations

from typing import Any

from tillit.hsm.ca import CertificateAuthority
from tillit.hsm.cert_profiles import revocation_reason
from tillit.hsm.errors import HsmError
from tillit.hsm.keys import Algorithm
from tillit.signer import errors
from tillit.signer.context import SignerContext
from tillit.signer.customers.lookup import find_customer
from tillit.signer.guesses import Secret
from tillit.signer.store.records import Customer


def certificate_revoked(ca: CertificateAuthority, customer: Customer) -> bool:
    """True when the customer has no certificate or the CA has revoked it."""
    if customer.cert_serial is None:
        return True
    issued = ca.status(int(customer.cert_serial, 16))
    return issued is None or issued.revoked_at is not None


class CustomerKeys:
    def __init__(self, context: SignerContext) -> None:
        self.context = context

    def issue(self, customer: Customer) -> None:
        """A fresh key pair in the HSM, and a certificate for it when the CA is set up."""
        context = self.context
        try:
            context.keys.generate_key(customer.key_label, Algorithm.EC_P256)
            if context.ca.initialised:
                cert = context.ca.issue(
                    customer.key_label,
                    common_name=customer.name,
                    person_id=f"TILLIT-{customer.id}",  # persistent and random: not the personal number
                    # The URL the CA was made with, which `serve` checks it answers at: an admin
                    # command's own settings may name another port. A CA too old to record it: ours.
                    base_url=context.ca.public_url or context.settings.base_url,
                )
                customer.cert_serial = f"{cert.serial_number:x}"
        except HsmError as e:
            raise errors.Unavailable(f"the HSM could not create the customer's key: {e}") from e

    def renew(self, customer: Customer, event: str, by: str, **changes: Any) -> None:
        """The next key generation in the HSM with its certificate; passwords unlocked."""
        context = self.context
        generation = customer.key_generation + 1
        customer.key_label = f"customer:{customer.id}:{generation}"
        self.issue(customer)
        with context.store.tx() as tx:
            tx.update_customer(
                customer.id,
                key_label=customer.key_label,
                key_generation=generation,
                cert_serial=customer.cert_serial,
                **changes,
            )
            context.guesses.unlock(tx, customer.id, Secret.PASSWORD)
            tx.audit(event, customer.id, context.clock(), by=by, certificate=customer.cert_serial)

    def revoke_certificate(self, personal_number: str, reason: str = "unspecified") -> Customer:
        """Revoke the customer's certificate for an RFC 5280 reason (`keyCompromise`; the older
        `key_compromise` spelling too), audited under its RFC name."""
        context = self.context
        customer = find_customer(context, personal_number)
        if customer.cert_serial is None:
            raise errors.Conflict("the customer has no certificate")
        try:
            reason = revocation_reason(reason)
        except HsmError as e:
            raise errors.InvalidInput(str(e)) from e
        try:
            context.ca.revoke(int(customer.cert_serial, 16), reason)
        except HsmError as e:
            raise errors.Conflict(str(e)) from e
        with context.store.tx() as tx:
            tx.audit("certificate.revoked", customer.id, context.clock(), serial=customer.cert_serial, reason=reason)
        return customer

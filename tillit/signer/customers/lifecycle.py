"""Around a login: blocking (sperre) and unblocking, a new certificate, and an administrator's new
password. Blocking fails the customer's open orders, deactivates the phones, revokes the certificate
and stops the key from signing."""

from __future__ import annotations

from tillit.hsm.errors import HsmError
from tillit.signer import errors
from tillit.signer.certificate_state import certificate_state
from tillit.signer.context import SignerContext
from tillit.signer.customers.keys import CustomerKeys
from tillit.signer.customers.lookup import find_customer
from tillit.signer.guesses import Secret
from tillit.signer.kiosk_orders import collect
from tillit.signer.passwords import check_policy
from tillit.signer.ratelimit import Limit
from tillit.signer.states import ALL_KINDS, OPEN_STATES, HintCode
from tillit.signer.store.records import Customer, Kiosk

# Why an administrator blocks (`tillit-signer customers block --reason`); kept in the audit log and shown
# by `customers show`. A kiosk's block carries its own text.
BLOCK_REASONS = {
    "lost-phone": "the phone or code device is lost or stolen",
    "suspected-misuse": "someone else may be using the BankID",
    "customer-request": "the customer asked for it",
    "deceased": "the customer has died",
    "bank-decision": "the bank withdraws the BankID; say why with --note",
}


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


class Lifecycle:
    def __init__(self, context: SignerContext, keys: CustomerKeys) -> None:
        self.context = context
        self.keys = keys
        self._unproven_blocks = Limit("kiosk-block", context.settings.kiosk_blocks_per_hour, 3600.0)

    def block_from_kiosk(self, kiosk: Kiosk, personal_number: str, reason: str, order_ref: str | None) -> None:
        """A block asked for at a kiosk. With `order_ref`, a completed login of this customer at this
        kiosk, it is the customer's own; without (the phone is lost, so nobody can approve), it counts
        against the kiosk's hourly budget of such blocks (`kiosk_blocks_per_hour`), so that a kiosk
        token cannot block a list of numbers. The answer does not tell whether the number had a BankID."""
        number = self.context.parse_number(personal_number)
        if order_ref:
            collected = collect(self.context, kiosk, order_ref)
            customer = collected.completion_data.customer if collected.completion_data else {}
            if collected.status != "complete" or customer.get("personalNumber") != number.value:
                raise errors.Forbidden("the order does not authenticate this customer")
        else:
            full = self.context.limits.windows.admit([(self._unproven_blocks, kiosk.id)])
            if full is not None:
                wait = full[1]
                raise errors.RateLimited(
                    "this kiosk has blocked too many BankIDs without the customer's login; the customer "
                    f"can block with a login, or the bank's staff; try again in {int(wait) + 1} s",
                    "rateLimited",
                    wait,
                )
        self.block(number.value, reason, by=f"kiosk:{kiosk.id}" + ("" if order_ref else " (without login)"))

    def block(self, personal_number: str, reason: str, by: str) -> bool:
        """Block at once: open orders fail, devices go, the certificate is revoked, the key stops
        signing. True if this call blocked the BankID (False: unknown number or already blocked)."""
        context = self.context
        number = context.parse_number(personal_number)
        reason = (reason or "blocked").strip()[:200]
        at = context.clock()
        with context.store.tx() as tx:
            customer = tx.customer_by_number(number.value)
            if customer is None or customer.status == "blocked":
                return False
            tx.update_customer(customer.id, status="blocked", blocked_reason=reason)
            devices = tx.deactivate_devices(customer.id, at)
            for order in tx.open_orders_for_customer(customer.id, ALL_KINDS):
                tx.fail_order(order.ref, OPEN_STATES, HintCode.BLOCKED, at)
            for device_id in devices:
                tx.audit("device.deactivated", device_id, at, customer=customer.id, why="blocked")
            tx.audit("customer.blocked", customer.id, at, by=by, reason=reason)
        try:
            context.keys.set_signing_allowed(customer.key_label, False)
            if customer.cert_serial:
                context.ca.revoke(int(customer.cert_serial, 16), "certificate_hold")
        except HsmError as e:
            # The state change above stands (no order can complete); the administrator sees this.
            raise errors.Unavailable(f"blocked, but the HSM could not finish: {e}") from e
        with context.store.tx() as tx:
            tx.audit("certificate.revoked", customer.id, at, serial=customer.cert_serial, reason="blocked")
        for device_id in devices:
            context.notifier.notify(device_id)
        return True

    def unblock(self, personal_number: str, by: str) -> Customer:
        """A fresh key and certificate; the customer then activates the app again."""
        customer = find_customer(self.context, personal_number)
        if customer.status != "blocked":
            raise errors.Conflict("the customer is not blocked")
        self.keys.renew(customer, "customer.unblocked", by, status="active", blocked_reason=None)
        return find_customer(self.context, personal_number)

    def reissue_certificate(self, personal_number: str, by: str) -> Customer:
        """After `revoke-certificate` (or once the certificate has expired): a fresh key and
        certificate, so the customer can sign again.
        The old certificate must be revoked first (two valid certificates for one customer would
        leave the old key usable by whoever kept it)."""
        customer = find_customer(self.context, personal_number)
        if customer.status != "active":
            raise errors.Conflict(f"the customer is {customer.status.replace('_', ' ')}: unblock or approve first")
        if certificate_state(self.context.ca, customer).valid:
            raise errors.Conflict("the customer's certificate is still valid: revoke it first")
        self.keys.renew(customer, "certificate.reissued", by)
        return find_customer(self.context, personal_number)

    def admin_reset_password(self, personal_number: str, new_password: str, by: str) -> None:
        context = self.context
        customer = find_customer(context, personal_number)
        check_policy(new_password, customer.personal_number)
        password_hash = context.passwords.hash(new_password)
        seal = context.seals.password(customer.id, password_hash)
        with context.store.tx() as tx:
            tx.update_customer(customer.id, password_hash=password_hash, password_seal=seal)
            context.guesses.unlock(tx, customer.id, Secret.PASSWORD)
            tx.audit("password.reset", customer.id, context.clock(), by=by)

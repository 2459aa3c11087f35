"""Seals: HMAC-SHA256 tags, made with a secret that never leaves the HSM, on the stored values that
decide who may act as a customer: the password hash, and each device's public key.

Without them, someone who can write to the database but not use the HSM (the insider of
docs/design.md) could put a key of their own on a customer's device row and a password hash of
their own on the customer's row, then approve and sign in the customer's name with Tillit's own
key and certificate for that customer. A value is trusted only with its seal:

- a customer's password hash with `password(customer_id, hash)`: a password checked against a hash
  whose seal does not hold counts as a wrong one;
- a device's public key with `device(device_id, customer_id, key)`: `device_key` gives the key only
  when its seal holds, so every signature the device makes (requests, approvals, the approval
  re-checked before an HSM signature) fails against a key put there by anyone but Tillit.

The customer's and the device's ids are inside the tag, so a sealed value copied onto another row
does not hold there. A broken seal is logged as an error: the database was changed outside Tillit.

The seal key (`SEAL_KEY_LABEL`) is made in the HSM the first time anything needs it, and every row
without a seal is sealed then, once (a store made before seals existed); from then on a missing
seal is a broken one. A checked tag is remembered in this process (by its row's values and the tag),
so a phone's polls do not each ask the HSM.

What seals do not cover: an old row restored whole with its old seal (the old password, or an old
device whose private key the insider also has); the audit log and the other tables, which the
audit chain and its checkpoints cover (signer/audit).
"""

from __future__ import annotations

import hmac
import logging
import threading
from pathlib import Path
from typing import Protocol

from tillit.hsm.errors import HsmError
from tillit.signer.own_keys import making_alone
from tillit.signer.passwords import Passwords
from tillit.signer.store.base import Store
from tillit.signer.store.records import Customer, Device, Order

log = logging.getLogger("tillit.seals")

SEAL_KEY_LABEL = "tillit-seal"
CONTEXT = b"tillit-seal-v1\n"
REMEMBERED = 100_000
"""Checked tags kept in memory at most (then forgotten all at once and checked again)."""


class SealKeys(Protocol):
    """The HSM as seals use it (`tillit.hsm.client.Hsm` is one)."""

    def has_secret(self, label: str) -> bool: ...

    def generate_secret(self, label: str) -> None: ...

    def hmac_sha256(self, label: str, data: bytes) -> bytes: ...


class Seals:
    """Makes and checks seals with the HSM's seal key; thread-safe."""

    def __init__(self, store: Store, hsm: SealKeys, home: Path) -> None:
        self.store = store
        self.hsm = hsm
        self.home = home  # the lock file among processes on this token is there
        self._ready = False
        self._lock = threading.Lock()
        self._held: set[tuple[bytes, str]] = set()  # (message, seal) pairs that were checked

    # -- making -----------------------------------------------------------------------------------

    def password(self, customer_id: str, password_hash: str) -> str:
        """The seal on a customer's password hash."""
        return self._tag(_password_message(customer_id, password_hash))

    def device(self, device_id: str, customer_id: str, public_key: bytes) -> str:
        """The seal on a device's public key (DER)."""
        return self._tag(_device_message(device_id, customer_id, public_key))

    def grant(self, order: Order) -> str:
        """The seal on an order's grant to sign with its customer's key: over its ref, customer,
        device and the phone's approval, made when the password (or a biometric approval) is accepted."""
        return self._tag(_grant_message(order))

    # -- checking ---------------------------------------------------------------------------------

    def password_intact(self, customer: Customer) -> bool:
        """Whether the customer's password hash carries Tillit's seal (logged when it does not)."""
        if self._holds(_password_message(customer.id, customer.password_hash), customer.password_seal):
            return True
        log.error(
            "the password hash of customer %s does not carry Tillit's seal: the database was changed outside"
            " Tillit; no password is accepted against it",
            customer.id,
        )
        return False

    def rehashed(self, passwords: Passwords, customer: Customer, password: str) -> tuple[str, str] | None:
        """For a right password whose hash is due for today's parameters (`Passwords.rehashed`): the
        new hash and its seal, for `keep_rehashed`. None when it is not due, or when the HSM cannot
        seal it now (the old hash stays; the next right password tries again)."""
        new = passwords.rehashed(customer.password_hash, password)
        if new is None:
            return None
        try:
            return new, self.password(customer.id, new)
        except HsmError:
            return None

    def device_key(self, device: Device) -> bytes | None:
        """The device's public key when it carries Tillit's seal; None (logged) when it does not."""
        if self._holds(_device_message(device.id, device.customer_id, device.public_key), device.key_seal):
            return device.public_key
        log.error(
            "the public key of device %s does not carry Tillit's seal: the database was changed outside Tillit;"
            " no signature is accepted with it",
            device.id,
        )
        return None

    def _holds(self, message: bytes, seal: str | None) -> bool:
        """Whether `seal` is the tag of `message`; a pair checked once is remembered."""
        if seal is None:
            # A store from before seals: sealed now, every row as it stands (so this one holds). Once
            # the key exists, a missing seal is a broken one.
            return self.ensure()
        with self._lock:
            if (message, seal) in self._held:
                return True
        if not hmac.compare_digest(seal, self._tag(message)):
            return False
        with self._lock:
            if len(self._held) >= REMEMBERED:
                self._held.clear()
            self._held.add((message, seal))
        return True

    def signing_refusal(self, order: Order, customer: Customer, device: Device | None) -> str | None:
        """Why the customer's key may not sign for `order`, or None: the order's device must be the
        customer's with its key sealed, the key's label must name the customer, and the order must
        carry the grant Tillit sealed when the password was accepted (an order moved to 'signing' or
        'complete' in the database, or given another customer, device or approval, does not)."""
        if device is None or order.customer_id != customer.id or device.customer_id != customer.id:
            return "the order's device is not the customer's"
        if not names_customer(customer.key_label, customer.id):
            return "the key label is not the customer's"
        if self.device_key(device) is None:
            return "the device key does not carry Tillit's seal"
        if not self._holds(_grant_message(order), order.grant_seal):
            log.error(
                "order %s does not carry the grant Tillit seals when a password is accepted: the database was"
                " changed outside Tillit; nothing is signed for it",
                order.ref,
            )
            return "the order does not carry Tillit's grant to sign"
        return None

    # -- the key --------------------------------------------------------------------------------

    def _tag(self, message: bytes) -> str:
        self.ensure()
        return self.hsm.hmac_sha256(SEAL_KEY_LABEL, CONTEXT + message).hex()

    def ensure(self) -> bool:
        """Make the seal key if the HSM has none, and then seal every row without a seal (once, by
        whichever process comes first, as the daemon's own keys are made: signer/own_keys.py).
        Whether this call made the key."""
        if self._ready:
            return False
        made = False
        if not self.hsm.has_secret(SEAL_KEY_LABEL):
            with making_alone(self.store, self.home, "seal-key"):
                if not self.hsm.has_secret(SEAL_KEY_LABEL):
                    self.hsm.generate_secret(SEAL_KEY_LABEL)
                    self._ready = made = True  # before the rows are sealed: `_tag` calls `ensure`
                    sealed = self._seal_every_row()
                    if sealed:  # a store from before seals; a new one has nothing to seal yet
                        log.info("made the seal key %s and sealed %d rows made before it", SEAL_KEY_LABEL, sealed)
        self._ready = True
        return made

    def _seal_every_row(self) -> int:
        """Seal the customers' password hashes and the devices' keys that have no seal; how many."""
        sealed = 0
        with self.store.tx() as tx:
            for customer in tx.customers():
                if customer.password_seal is None:
                    tx.update_customer(customer.id, password_seal=self.password(customer.id, customer.password_hash))
                    sealed += 1
            for device in tx.devices_without_seal():
                tx.set_device_seal(device.id, self.device(device.id, device.customer_id, device.public_key))
                sealed += 1
        return sealed


def names_customer(key_label: str, customer_id: str) -> bool:
    """Whether a key label is one of the customer's own (`customer:<id>` or `customer:<id>:<generation>`)."""
    return key_label == f"customer:{customer_id}" or key_label.startswith(f"customer:{customer_id}:")


def _password_message(customer_id: str, password_hash: str) -> bytes:
    return b"password\n" + customer_id.encode() + b"\n" + password_hash.encode()


def _device_message(device_id: str, customer_id: str, public_key: bytes) -> bytes:
    return b"device\n" + device_id.encode() + b"\n" + customer_id.encode() + b"\n" + public_key


def _grant_message(order: Order) -> bytes:
    fields = (order.ref, order.customer_id or "", order.device_id or "", order.approval or "")
    return b"grant\n" + "\n".join(fields).encode()

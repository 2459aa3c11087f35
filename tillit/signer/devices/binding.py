"""Binding a phone's key to a customer as the one active device, and the device's own settings."""

from __future__ import annotations

import uuid
from typing import Any

from tillit.signer.context import SignerContext
from tillit.signer.customers.lookup import find_customer
from tillit.signer.device_keys import device_key_der
from tillit.signer.states import ALL_KINDS, EXPIRING_STATES, HintCode, OrderKind, OrderStatus
from tillit.signer.store.records import Customer, Device
from tillit.signer.store.tx import Tx


class DeviceBinding:
    def __init__(self, context: SignerContext) -> None:
        self.context = context

    def bind_device(self, customer: Customer, public_key: bytes, name: str, how: str) -> Device:
        """Make this key the customer's one active device; the old one is deactivated at once."""
        with self.context.store.tx() as tx:
            device, old = self.bind_device_in(tx, customer, public_key, name, how)
        self.notify_rebound(device, old)
        return device

    def notify_rebound(self, device: Device, old: list[str]) -> None:
        """After `bind_device_in` committed: wake the old phones (they are deactivated) and the new one
        (it may have inherited guardian requests)."""
        for device_id in [*old, device.id]:
            self.context.notifier.notify(device_id)

    def bind_device_in(
        self, tx: Tx, customer: Customer, public_key: bytes, name: str, how: str
    ) -> tuple[Device, list[str]]:
        """`bind_device` inside the caller's transaction; returns the new device and the old ones' ids.
        Orders the old device was asked about end, except guardian approvals still waiting: those
        move to the new device (the guardian is the same person with a new phone)."""
        der = device_key_der(public_key)
        at = self.context.clock()
        device_id = str(uuid.uuid4())
        device = Device(
            id=device_id,
            customer_id=customer.id,
            public_key=der,
            key_seal=self.context.seals.device(device_id, customer.id, der),
            name=(name.strip() or "phone")[:100],
            status="active",
            activated_at=at,
            deactivated_at=None,
        )
        old = tx.deactivate_devices(customer.id, at)
        tx.insert_device(device)
        # The first login after activation chooses the app explicitly.
        tx.update_customer(customer.id, last_method=None)
        for old_id in old:
            tx.audit("device.deactivated", old_id, at, customer=customer.id, replacedBy=device.id)
        tx.audit("device.activated", device.id, at, customer=customer.id, how=how)
        for order in tx.open_orders_for_customer(customer.id, kinds=ALL_KINDS):
            if order.device_id not in old or order.status not in EXPIRING_STATES:
                continue
            if order.kind == OrderKind.GUARDIAN and order.status == OrderStatus.PENDING:
                # Nothing was approved on the old phone: the same guardian answers on the new one.
                tx.update_order(order.ref, device_id=device.id)
                tx.audit("order.moved", order.ref, at, device=device.id, why="device replaced")
                continue
            # An approval is only as good as the device that gave it: the old device's orders end
            # now, also those it already approved (a password may still be on its way).
            tx.fail_order(order.ref, [order.status], HintCode.CANCELLED, at, why="device replaced")
        return device, old

    def add_device(self, personal_number: str, public_key: bytes, name: str = "phone") -> Device:
        customer = find_customer(self.context, personal_number)
        return self.bind_device(customer, public_key, name, how="administrator")

    def active_device_info(self, customer_id: str) -> dict[str, Any] | None:
        with self.context.store.tx() as tx:
            device = tx.active_device(customer_id)
        return device.public() if device else None

    def set_biometric(self, device: Device, on: bool) -> bool:
        """The customer turned login without password (biometric or app PIN) on or off in the app."""
        at = self.context.clock()
        with self.context.store.tx() as tx:
            tx.set_device_biometric(device.id, on)
            tx.audit("device.biometric", device.id, at, on=on)
        return on

    def device_active(self, device_id: str) -> bool:
        with self.context.store.read() as tx:
            device = tx.device(device_id)
        return device is not None and device.status == "active"

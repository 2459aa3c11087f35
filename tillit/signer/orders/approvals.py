"""The phone's side of an order: the requests waiting on a device, and its approve or decline.

The phone signs the order's exact challenge (orders/challenge.py); the signature is checked before
the writer's lock is taken, and the decision is then one conditional transition, so one approval
moves an order once.
"""

from __future__ import annotations

import base64
from dataclasses import replace

from tillit.signer import errors
from tillit.signer.context import SignerContext
from tillit.signer.customers.guardians import Guardians
from tillit.signer.deactivation import deactivated
from tillit.signer.device_keys import verify_device_signature
from tillit.signer.devices.auth import DeviceAuth, DeviceRequest
from tillit.signer.kiosk_orders import expire
from tillit.signer.orders.challenge import challenge
from tillit.signer.orders.completion import completion_data
from tillit.signer.states import HintCode, OrderKind, OrderMethod, OrderStatus
from tillit.signer.store.records import Customer, Device, Order
from tillit.signer.store.tx import Tx
from tillit.signer.wire import AppRequest, approval_message


def app_request(tx: Tx, order: Order) -> AppRequest:
    """A pending order as the phone sees it. An RP API order's password is asked by the phone, and
    its text may be simpleMarkdownV1."""
    asked = challenge(tx, order)
    rp = tx.rp_order(order.ref)
    markdown = rp is not None and rp.visible_data_format == "simpleMarkdownV1"
    return AppRequest(
        order_ref=order.ref,
        reference=order.reference,
        kind=order.kind,
        method=order.method,
        kiosk_name=asked["kiosk"]["name"],
        user_visible_data=order.user_visible_data,
        documents=[{"name": d["name"], "sha256": d["sha256"]} for d in asked["documents"]],
        expires_at=int(order.expires_at),
        challenge=asked,
        password_by="phone" if rp is not None else "kiosk",
        user_visible_data_format="simpleMarkdownV1" if markdown else "plaintext",
    )


class Approvals:
    def __init__(self, context: SignerContext, requests: DeviceAuth, guardians: Guardians) -> None:
        self.context = context
        self.requests = requests
        self.guardians = guardians

    def pending_requests(self, device: Device) -> list[AppRequest]:
        with self.context.store.read() as tx:
            return self._pending_requests(tx, device)

    def poll(self, device: Device) -> tuple[list[AppRequest], bool]:
        """The device's pending requests and whether it is still active, in one read."""
        with self.context.store.read() as tx:
            current = tx.device(device.id)
            return self._pending_requests(tx, device), current is not None and current.status == "active"

    def _pending_requests(self, tx: Tx, device: Device) -> list[AppRequest]:
        return [app_request(tx, order) for order in tx.pending_orders_for_device(device.id, self.context.clock())]

    def decide(self, device: Device, ref: str, decision: str, signature: bytes, biometric: bool = False) -> str:
        """Apply a device's approve/decline. The signature must cover this order's exact challenge."""
        return self._decide(device, None, ref, decision, signature, biometric)

    def decide_request(
        self, request: DeviceRequest, ref: str, decision: str, signature: bytes, biometric: bool = False
    ) -> str:
        """`decide` for a signed phone request (`check_device_request`): its nonce is used up in the
        transaction that applies the decision, so an approval takes one write, not two."""
        if request.refusal is not None:
            self.requests.settle(request)  # raises: unknown device or a signature that does not match
        assert request.device is not None
        return self._decide(request.device, request, ref, decision, signature, biometric)

    def _decide(
        self, device: Device, request: DeviceRequest | None, ref: str, decision: str, signature: bytes, biometric: bool
    ) -> str:
        context = self.context
        at = context.clock()
        message = b""
        # A challenge never changes once the order exists: check the signature over it before taking
        # the writer's lock; the decision itself is then one conditional transition.
        customer: Customer | None = None
        with context.store.read() as tx:
            order = tx.order(ref)
            if order is None or order.device_id != device.id or order.customer_id != device.customer_id:
                order = None
            else:
                message = approval_message(challenge(tx, order), decision)
                if decision == "approve" and _completes_on_approval(order) and order.customer_id:
                    customer = tx.customer(order.customer_id)
        key = context.seals.device_key(device) if order is not None else None
        signed = key is not None and verify_device_signature(key, signature, message)
        completion: tuple[str, str] | None = None
        if signed and order is not None and customer is not None:
            # A biometric login completes with this approval. Its token (an HSM signature) and its
            # grant's seal are made before the writer's lock is taken and kept only if the
            # transaction below completes the order, as for a password (orders/verify.py).
            approved = replace(order, approval=base64.b64encode(signature).decode())
            completion = (
                self._completion_without_password(order, customer, device, biometric),
                context.seals.grant(approved),
            )
        refusal: errors.SignerError | None = None
        with context.store.tx() as tx:
            if request is not None:
                refusal = self.requests.settle_in(tx, request)
                if refusal is None and device.status != "active":
                    refusal = deactivated(tx, device)
            if refusal is None and order is None:
                refusal = errors.NotFound("no such request for this device")
            if refusal is None:
                assert order is not None
                order = tx.order(ref) or order
                current = tx.device(device.id)
                if current is None or current.status != "active":
                    refusal = deactivated(tx, current or device)
                else:
                    refusal = self._decision_rejection(tx, order, device, signed, at)
                if refusal is None:
                    assert current is not None
                    self._apply_decision(tx, order, current, decision, signature, biometric, at, completion)
        if refusal is not None:
            raise refusal  # after the commit, so the audit keeps the rejected attempt
        return decision

    def _decision_rejection(
        self, tx: Tx, order: Order, device: Device, signed: bool, at: float
    ) -> errors.SignerError | None:
        order = expire(self.context, tx, order)
        if order.status == OrderStatus.FAILED and order.hint_code == HintCode.EXPIRED_TRANSACTION:
            return errors.Gone("the request has expired")
        if order.status != OrderStatus.PENDING:
            tx.audit("approval.rejected", order.ref, at, device=device.id, why="not pending")
            return errors.Conflict("the request has already been answered or has ended", "alreadyAnswered")
        if not signed:
            tx.audit("approval.rejected", order.ref, at, device=device.id, why="signature")
            return errors.InvalidInput("the signature does not match this request", "badSignature")
        return None

    def _apply_decision(
        self,
        tx: Tx,
        order: Order,
        device: Device,
        decision: str,
        signature: bytes,
        biometric: bool,
        at: float,
        completion: tuple[str, str] | None,
    ) -> None:
        """`completion`: a biometric login's completion data and grant seal, made before the
        transaction (None for every other order)."""
        ref = order.ref
        if decision == "approve":
            approval = base64.b64encode(signature).decode()
            approved = tx.move(
                order,
                [OrderStatus.PENDING],
                OrderStatus.APPROVED,
                HintCode.USER_SIGN,
                approved_at=at,
                approval=approval,
            )
            if approved is None:
                raise errors.Conflict("the request has already been answered or has ended", "alreadyAnswered")
            tx.audit("order.approved", ref, at, device=device.id, biometric=biometric)
            order = approved
            if order.kind == OrderKind.GUARDIAN:
                self.guardians.decided(tx, order, approved=True)
            elif _completes_on_approval(order):
                # Made before the transaction from the same order (its kind and method never change).
                assert completion is not None
                self._complete_without_password(tx, order, completion)
        else:
            if not tx.fail_order(ref, [OrderStatus.PENDING], HintCode.USER_CANCEL, at, device=device.id):
                raise errors.Conflict("the request has already been answered or has ended", "alreadyAnswered")
            if order.kind == OrderKind.GUARDIAN:
                self.guardians.decided(tx, order, approved=False)

    def _completion_without_password(self, order: Order, customer: Customer, device: Device, biometric: bool) -> str:
        """A biometric/app-PIN login's completion data, at the lower level (`substantial`)."""
        amr = ["app", "bio" if biometric else "pin"]
        return completion_data(self.context, order, customer, device, level="substantial", amr=amr)

    def _complete_without_password(self, tx: Tx, order: Order, completion: tuple[str, str]) -> None:
        """A biometric/app-PIN login: complete at the lower level (`substantial`) with `completion`
        (the data and the grant's seal), made before the transaction; never for signing."""
        assert order.kind == OrderKind.AUTH and order.customer_id is not None
        context = self.context
        at = context.clock()
        tx.transition(
            order.ref,
            [OrderStatus.APPROVED],
            OrderStatus.COMPLETE,
            HintCode.COMPLETE,
            completed_at=at,
            completion=completion[0],
            level="substantial",
            grant_seal=completion[1],
        )
        tx.insert_session(
            order.ref, order.customer_id, order.kiosk_id, at, at + context.settings.token_lifetime_seconds
        )
        tx.update_customer(order.customer_id, last_method="biometric")
        tx.audit("order.completed", order.ref, at, level="substantial")


def _completes_on_approval(order: Order) -> bool:
    """A biometric login: the phone's approval completes it, without a password."""
    return order.kind == OrderKind.AUTH and order.method == OrderMethod.BIOMETRIC

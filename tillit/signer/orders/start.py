"""Starting an order at a kiosk: the checks before anything is stored, the order with its documents,
and the push to the customer's phone.

A number without a customer fails like a customer without the chosen method (`noDevice`,
`noCodeDevice`), so starting an order does not reveal who is a customer. Two open orders for one
customer is what phishing looks like: both are cancelled (`alreadyInProgress`), as BankID does.

A relying party's order (the BankID RP API face) does not fail at once: BankID's answer for a
person without BankID is an order nobody takes, pending until its time is up (`startFailed`), so
an RP learns nothing from the start. The order is kept pending with no phone asked
(`withhold_failure`); the reason is in the audit.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable

from tillit.signer import errors
from tillit.signer.certificate_state import certificate_state, sign_refusal
from tillit.signer.context import SignerContext
from tillit.signer.document_checks import NewDocument, check_documents
from tillit.signer.kiosk_orders import expire
from tillit.signer.references import new_reference
from tillit.signer.states import EXPIRING_STATES, HintCode, OrderKind, OrderMethod, OrderStatus
from tillit.signer.store.records import Customer, Device, Kiosk, Order, StoredDocument
from tillit.signer.store.tx import Tx
from tillit.signer.wire import OrderStarted


class OrderStarts:
    def __init__(self, context: SignerContext) -> None:
        self.context = context

    def start_order(
        self,
        kiosk: Kiosk,
        kind: str,
        personal_number: str | None,
        user_visible_data: str | None,
        documents: list[NewDocument] | None = None,
        method: str = OrderMethod.APP,
        agreement_id: str | None = None,
        on_insert: Callable[[Tx, Order], None] | None = None,
        withhold_failure: bool = False,
    ) -> OrderStarted:
        """A new order for the customer with this number, or one failed at once (and why).

        Without a number (an RP API order started for a QR code): a pending order for nobody yet,
        which a phone claims (orders/rp_claims.py). `on_insert` runs in the transaction that stores
        the order, right after it is inserted. With `withhold_failure` an order that would fail at
        once for the person (unknown, no active app, blocked, password locked) is stored pending
        instead, pushed to no phone, and ends when its lifetime does; `alreadyInProgress` still
        fails at once (the RP face's starts)."""
        context = self.context
        settings = context.settings
        number = context.parse_number(personal_number) if personal_number is not None else None
        documents = documents or []
        for doc in documents:
            if len(doc.content) > settings.max_document_bytes:
                raise errors.TooLarge(f"document '{doc.name}' is larger than {settings.max_document_bytes} bytes")
        if kind == OrderKind.SIGN:
            check_documents(documents)
        # 429 before anything is stored or pushed; an order for nobody counts against the kiosk alone.
        starter = "relying party" if kiosk.role == "rp" else "kiosk"
        context.limits.admit(kiosk.id, number.value if number else f"unnamed:{uuid.uuid4()}", starter)
        if kind == OrderKind.SIGN and number:
            self._refuse_unusable_certificate(number.value)
        at = context.clock()
        order = Order.new(
            OrderKind(kind),
            kiosk_id=kiosk.id,
            reference=new_reference(),
            user_visible_data=user_visible_data or f"Innlogging hos {kiosk.name}",
            method=OrderMethod(method),
            at=at,
            lifetime=settings.order_ttl_seconds,
            agreement_id=agreement_id,
        )
        ref = order.ref
        notify: list[str] = []
        digests = [hashlib.sha256(doc.content).hexdigest() for doc in documents]
        with context.store.tx() as tx:
            customer = tx.customer_by_number(number.value) if number else None
            if customer is not None:
                order.customer_id = customer.id
            failure, device = self._start_failure(tx, customer, kind, method) if number else (None, None)
            if failure is None and customer is not None:
                # An order past its lifetime that nobody collected is expired now, not "in progress".
                others = [expire(context, tx, o) for o in tx.open_orders_for_customer(customer.id)]
                others = [o for o in others if o.open]
                if others:
                    # Two orders at once is what phishing looks like: cancel both (as BankID does).
                    for other in others:
                        tx.fail_order(other.ref, EXPIRING_STATES, HintCode.ALREADY_IN_PROGRESS, at)
                        notify.extend([other.device_id] if other.device_id else [])
                    failure = HintCode.ALREADY_IN_PROGRESS
                elif method != OrderMethod.CODE_DEVICE:
                    assert device is not None
                    order.device_id = device.id
                    notify.append(device.id)
                    if method == OrderMethod.BIOMETRIC and not device.biometric:
                        # Not turned on in the app: an ordinary app login, the password after the approval.
                        order.method = str(OrderMethod.APP)
            withheld = None
            if failure and withhold_failure and failure != HintCode.ALREADY_IN_PROGRESS:
                withheld, failure = failure, None
            if failure:
                order.status, order.hint_code, order.completed_at = str(OrderStatus.FAILED), str(failure), at
            elif documents:
                size = sum(len(doc.content) for doc in documents)
                quota = settings.kiosk_storage_bytes
                if tx.add_stored_bytes(kiosk.id, size) > quota > 0:
                    raise errors.TooLarge(
                        f"this kiosk's orders already hold the most documents the signer keeps for it ({quota} bytes);"
                        " fetch or finish the signed ones, or try again later",
                        "storageQuota",
                    )
            tx.insert_order(order)
            if on_insert is not None:
                on_insert(tx, order)
            # An order that fails at once keeps nothing of its documents (their digests are in the audit).
            kept = documents if order.status != OrderStatus.FAILED else []
            for index, (doc, digest) in enumerate(zip(kept, digests, strict=False)):
                tx.insert_document(
                    StoredDocument(
                        order_ref=ref,
                        idx=index,
                        name=doc.name,
                        content_type=doc.content_type,
                        content=doc.content,
                        sha256=digest,
                        signed=None,
                    )
                )
            tx.audit(
                "order.started",
                ref,
                at,
                kind=kind,
                kiosk=kiosk.id,
                customer=order.customer_id,
                status=order.status,
                hint=order.hint_code,
                documents=digests,
                **({"withheld": str(withheld)} if withheld else {}),
            )
        for device_id in notify:
            context.notifier.notify(device_id)
        return OrderStarted(order_ref=ref, reference=order.reference, expires_at=int(order.expires_at))

    def _refuse_unusable_certificate(self, personal_number: str) -> None:
        """Refuse (409, nothing stored or pushed) a sign order for an active customer whose
        certificate is revoked, expired or missing: the HSM would refuse it only at the end, after the
        phone's approval and the password. Blocked, unknown and other customers go on to fail as
        before (`blocked`, `noDevice`), so unknown numbers still answer like customers without a phone."""
        with self.context.store.read() as tx:
            customer = tx.customer_by_number(personal_number)
        if customer is None or customer.status != "active":
            return
        refusal = sign_refusal(certificate_state(self.context.ca, customer))
        if refusal is not None:
            raise refusal

    def remembered_method(self, kiosk: Kiosk, personal_number: str) -> str | None:
        """The customer's last login method, or None (new, just activated, or unknown: the same answer).

        A remembered method does tell a customer from a stranger, so each lookup counts against the
        same per-number and per-kiosk budgets as an order start (`limits`): enumerating numbers this
        way is no faster than by starting orders."""
        number = self.context.parse_number(personal_number)
        self.context.limits.admit(kiosk.id, number.value)
        with self.context.store.read() as tx:
            customer = tx.customer_by_number(number.value)
        if customer is None or customer.status != "active":
            return None
        return customer.last_method

    def _start_failure(
        self, tx: Tx, customer: Customer | None, kind: str, method: str
    ) -> tuple[HintCode | None, Device | None]:
        """Why a new order fails at once (or None), and the customer's active app (when looked up).
        Unknown numbers answer like customers without the chosen method, so the answer does not
        reveal who is a customer."""
        missing = HintCode.NO_CODE_DEVICE if method == OrderMethod.CODE_DEVICE else HintCode.NO_DEVICE
        if customer is None:
            return missing, None
        if customer.status == "blocked":
            return HintCode.BLOCKED, None
        if customer.status != "active":
            return HintCode.NO_DEVICE, None
        if customer.password_locked and kind != OrderKind.RESET:
            return HintCode.PASSWORD_LOCKED, None
        if method == OrderMethod.CODE_DEVICE:
            code_device = tx.code_device_of(customer.id)
            if code_device is None:
                return HintCode.NO_CODE_DEVICE, None
            return (None if code_device.status == "active" else HintCode.CODE_DEVICE_SUSPENDED), None
        device = tx.active_device(customer.id)
        return (None if device is not None else HintCode.NO_DEVICE), device

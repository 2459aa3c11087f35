"""What a kiosk or an operator gets of an order: its state (`collect`), its cancellation, the signed
documents and the signed receipt."""

from __future__ import annotations

import json
from typing import Any

from tillit.signer import errors
from tillit.signer.context import SignerContext
from tillit.signer.document_checks import is_pdf
from tillit.signer.kiosk_orders import collect, collect_response, kiosk_order, readable_kiosk_order
from tillit.signer.receipts import is_signed
from tillit.signer.states import HintCode, OrderKind, OrderStatus
from tillit.signer.store.records import Kiosk
from tillit.signer.tokens import verify_receipt
from tillit.signer.wire import CollectResponse


class OrderOutcomes:
    def __init__(self, context: SignerContext) -> None:
        self.context = context

    def collect(self, kiosk: Kiosk, ref: str) -> CollectResponse:
        """The order's state for its kiosk; see `kiosk_orders.collect`."""
        return collect(self.context, kiosk, ref)

    def cancel(self, kiosk: Kiosk, ref: str) -> CollectResponse:
        """Cancel a pending or approved order; 409 once its password check or signing runs."""
        context = self.context
        with context.store.tx() as tx:
            order = kiosk_order(context, tx, kiosk, ref)
            at = context.clock()
            if order.status in (OrderStatus.PENDING, OrderStatus.APPROVED):
                tx.fail_order(order.ref, [order.status], HintCode.CANCELLED, at, by="kiosk")
            elif order.open:
                raise errors.Conflict("the order is being completed and can no longer be cancelled")
            order = tx.order(ref) or order
        if order.device_id:
            context.notifier.notify(order.device_id)
        return collect_response(context, order, None)

    def signed_document(self, kiosk: Kiosk, ref: str, index: int) -> tuple[bytes, str, str]:
        """The signed output of one document of a completed sign order: (bytes, media type, filename)."""
        found = self._read_signed_document(kiosk, ref, index)  # no writer's lock in the common case
        if found is not None:
            return found
        with self.context.store.tx() as tx:  # the order has just expired: record that
            kiosk_order(self.context, tx, kiosk, ref)
        raise errors.Conflict("the order has no signed documents (not a completed sign order)")

    def _read_signed_document(self, kiosk: Kiosk, ref: str, index: int) -> tuple[bytes, str, str] | None:
        """`signed_document` in a read-only transaction; None when the order has just expired."""
        in_range = 0 <= index < self.context.settings.max_documents  # and within the store's integers
        with self.context.store.read() as tx:
            order = readable_kiosk_order(self.context, tx, kiosk, ref)
            doc = tx.document(ref, index) if order is not None and in_range else None
        if order is None:
            return None
        if order.status != OrderStatus.COMPLETE or order.kind != OrderKind.SIGN:
            raise errors.Conflict("the order has no signed documents (not a completed sign order)")
        if doc is None and in_range and index < order.signatures:
            raise errors.Gone("the signed document was deleted after the retention period", "documentDeleted")
        if doc is None or doc.signed is None:
            raise errors.NotFound("no such document in this order")
        if doc.fetched_at is None:
            self.context.retention.note_fetched(ref, index)
        if is_pdf(doc.content_type, doc.content):
            return doc.signed, "application/pdf", doc.name
        return doc.signed, "application/pkcs7-signature", doc.name + ".p7s"

    def receipt(self, ref: str) -> dict[str, Any]:
        """The order's receipt, decoded (operators' CLI): the claims of the signed receipt once its
        signature verifies with this service's key, or a receipt from before receipts were signed
        as stored, marked `"signed": false`."""
        stored = self._stored_receipt(ref)
        if not is_signed(stored):
            return {**json.loads(stored), "signed": False}
        claims = verify_receipt(stored, self.context.tokens.jwks())
        if claims is None:
            raise errors.Conflict("the stored receipt's signature does not verify", "receiptInvalid")
        return claims

    def receipt_jws(self, ref: str) -> str:
        """The order's signed receipt as issued (compact JWS), for the operators' CLI."""
        stored = self._stored_receipt(ref)
        if not is_signed(stored):
            raise errors.Conflict("this receipt was made before receipts were signed", "receiptUnsigned")
        return stored

    def kiosk_receipt(self, kiosk: Kiosk, ref: str) -> str:
        """The signed receipt (compact JWS) of a completed sign order, for the kiosk that ran it;
        another kiosk's order is not found (404), as for every order lookup."""
        with self.context.store.read() as tx:
            order = tx.order(ref)
            if order is None or order.kiosk_id != kiosk.id:
                raise errors.NotFound("no such order for this kiosk")
            stored = tx.receipt(ref)
        if stored is None:
            raise errors.Conflict("the order has no receipt (not a completed sign order)")
        if not is_signed(stored):
            raise errors.Conflict("this receipt was made before receipts were signed", "receiptUnsigned")
        return stored

    def _stored_receipt(self, ref: str) -> str:
        with self.context.store.read() as tx:
            stored = tx.receipt(ref)
        if stored is None:
            raise errors.NotFound("no receipt for that order")
        return stored

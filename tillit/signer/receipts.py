"""Signed receipts: what the daemon attests about a completed sign order, as a compact JWS.

A receipt is made once, when a sign order completes (`signer.orders.signing`), signed by the service key
in the HSM that also signs the completion tokens (`TokenIssuer.sign_receipt`, JOSE `typ`
`tillit-receipt+jwt`, `kid` as in `GET /v1/keys`), and stored as signed. It names the order, the
kiosk, the customer, the device and its approval (the device's own signature over the challenge
and the exact bytes it signed), the times, and per document the SHA-256 of the input and of the
signed output the kiosk fetches from `GET /v1/orders/{ref}/documents/{i}`. Anyone holding the
receipt, the outputs and the JWKS can check them without the daemon's database.

The customer's national identity number is left out on purpose: a receipt is a permanent, signed
copy that leaves the bank (the kiosk shows and keeps it, a customer may pass it on) and cannot be
redacted once issued; the customer id and the certificate serial already tie it to the person in
the bank's records and in the signed documents' certificate, so the number would add exposure and
no evidence.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from tillit.signer.store.records import Customer, Device, Kiosk, Order
from tillit.signer.wire import approval_message

# RFC 7515 9.2.1: the media type of a JWS in compact serialisation.
RECEIPT_MEDIA_TYPE = "application/jose"

# Receipts made before they were signed hold their JSON as is (it begins with "{").
_UNSIGNED_PREFIX = "{"


def receipt_claims(
    order: Order,
    customer: Customer,
    kiosk: Kiosk | None,
    device: Device | None,
    challenge: dict[str, Any],
    documents: list[dict[str, Any]],
    outputs: dict[int, bytes],
    completed_at: float,
) -> dict[str, Any]:
    """The receipt's claims for a sign order completing at `completed_at`. `documents` is the
    completion's summary (index, name, input SHA-256, format, path); `outputs` the signed bytes by
    document index; `challenge` what the device approved (`Signer.challenge`)."""
    signed_message = approval_message(challenge, "approve")
    return {
        "jti": order.ref,
        "orderRef": order.ref,
        "reference": order.reference,
        "kind": order.kind,
        "method": order.method,
        "kiosk": {"id": order.kiosk_id, "name": kiosk.name if kiosk else ""},
        "customer": {"id": customer.id, "name": customer.name},
        "certificateSerial": customer.cert_serial,
        "device": {
            "id": device.id if device else order.device_id,
            "name": device.name if device else None,
            "publicKey": base64.b64encode(device.public_key).decode() if device else None,
        },
        "approval": {
            "decision": "approve",
            # ECDSA P-256 with SHA-256 by the device key over `message`, as the phone sent it.
            "signature": order.approval,
            "message": base64.b64encode(signed_message).decode(),
            "messageSha256": hashlib.sha256(signed_message).hexdigest(),
        },
        "userVisibleData": order.user_visible_data,
        "documents": [{**doc, "signedSha256": hashlib.sha256(outputs[doc["index"]]).hexdigest()} for doc in documents],
        "startedAt": order.created_at,
        "approvedAt": order.approved_at,
        "completedAt": completed_at,
    }


def is_signed(stored: str) -> bool:
    """Whether a stored receipt is a signed one (a compact JWS), not one from before receipts were signed."""
    return not stored.startswith(_UNSIGNED_PREFIX)


__all__ = ["RECEIPT_MEDIA_TYPE", "is_signed", "receipt_claims"]

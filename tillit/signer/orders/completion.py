"""What a completed order hands its kiosk: the completion data with its signed token."""

from __future__ import annotations

from typing import Any

from tillit.signer.context import SignerContext
from tillit.signer.store.records import Customer, Device, Order
from tillit.signer.wire import CompletionData


def completion_data(
    context: SignerContext,
    order: Order,
    customer: Customer,
    device: Device | None,
    level: str,
    signatures: list[dict[str, Any]] | None = None,
    amr: list[str] | None = None,
) -> str:
    """The completion data (JSON) with a completion token for the order's kiosk, signed in the HSM.
    `device` is the phone that approved the order, read by the caller (in a read it makes anyway)."""
    token = context.tokens.issue(
        subject=customer.id,
        audience=order.kiosk_id,
        lifetime=context.settings.token_lifetime_seconds,
        jti=order.ref,
        acr=level,
        amr=amr or ["app", "pwd"],
        name=customer.name,
        kind=order.kind,
    )
    data = CompletionData(
        customer={
            "id": customer.id,
            "personalNumber": customer.personal_number,
            "name": customer.name,
            "born": customer.born,
            "certificateSerial": customer.cert_serial,
        },
        device=device.public() if device else None,
        token=token,
        level=level,
        signatures=signatures,
    )
    return data.model_dump_json(by_alias=True)

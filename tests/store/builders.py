"""Rows for the store tests: each builder fills every field, overrides by keyword."""

from __future__ import annotations

import uuid
from typing import Any

from tillit.signer.store.records import (
    Activation,
    Agreement,
    CodeDevice,
    Customer,
    Device,
    Kiosk,
    Order,
    StoredDocument,
)

T0 = 1_790_000_000.25


def uid() -> str:
    return str(uuid.uuid4())


def customer(**kw: Any) -> Customer:
    cid = kw.pop("id", uid())
    values: dict[str, Any] = {
        "id": cid,
        "personal_number": cid.replace("-", "")[:11],
        "name": "Kari Nordmann",
        "mobile": "+4791234567",
        "email": "kari@example.no",
        "born": "1980-01-01",
        "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        "failed_passwords": 0,
        "password_locked": 0,
        "status": "active",
        "key_label": f"customer:{cid}",
        "cert_serial": None,
        "guardian_id": None,
        "last_method": None,
        "created_at": T0,
    }
    values.update(kw)
    return Customer(**values)


def device(customer_id: str, **kw: Any) -> Device:
    values: dict[str, Any] = {
        "id": uid(),
        "customer_id": customer_id,
        "public_key": b"\x30\x59\x00\x13 der \x00\xff",
        "name": "phone",
        "status": "active",
        "activated_at": T0,
        "deactivated_at": None,
    }
    values.update(kw)
    return Device(**values)


def kiosk(**kw: Any) -> Kiosk:
    values: dict[str, Any] = {
        "id": uid(),
        "name": "Bergen sentrum",
        "token_hash": uid(),
        "status": "active",
        "created_at": T0,
    }
    values.update(kw)
    return Kiosk(**values)


def order(kiosk_id: str, customer_id: str | None = None, **kw: Any) -> Order:
    values: dict[str, Any] = {
        "ref": uid(),
        "kind": "auth",
        "customer_id": customer_id,
        "kiosk_id": kiosk_id,
        "reference": "BLÅ FJORD",
        "user_visible_data": "Logg inn i nettbanken ✓",
        "nonce": uid(),
        "method": "app",
        "created_at": T0,
        "expires_at": T0 + 180,
        "status": "pending",
        "hint_code": "outstandingTransaction",
        "device_id": None,
        "level": None,
        "approved_at": None,
        "completed_at": None,
        "completion": None,
        "agreement_id": None,
        "signatures": 0,
    }
    values.update(kw)
    return Order(**values)


def document(order_ref: str, idx: int, content: bytes = b"%PDF-1.7\x00\x01\xff", **kw: Any) -> StoredDocument:
    import hashlib

    values: dict[str, Any] = {
        "order_ref": order_ref,
        "idx": idx,
        "name": f"avtale-{idx}.pdf",
        "content_type": "application/pdf",
        "content": content,
        "sha256": hashlib.sha256(content).hexdigest(),
        "signed": None,
    }
    values.update(kw)
    return StoredDocument(**values)


def code_device(customer_id: str | None, **kw: Any) -> CodeDevice:
    values: dict[str, Any] = {
        "serial": uid()[:12],
        "customer_id": customer_id,
        "status": "active",
        "failures": 0,
        "last_counter": 0,
        "assigned_at": T0,
    }
    values.update(kw)
    return CodeDevice(**values)


def activation(customer_id: str | None, **kw: Any) -> Activation:
    values: dict[str, Any] = {
        "id": uid(),
        "customer_id": customer_id,
        "method": "sms-email",
        "device_name": "ny telefon",
        "public_key": b"\x00key\xff",
        "created_at": T0,
        "expires_at": T0 + 600,
        "status": "open",
        "sms_code_hash": "a" * 64,
        "email_code_hash": "b" * 64,
        "failures": 0,
        "order_ref": None,
    }
    values.update(kw)
    return Activation(**values)


def agreement(customer_id: str, **kw: Any) -> Agreement:
    values: dict[str, Any] = {
        "id": uid(),
        "customer_id": customer_id,
        "title": "Boliglån",
        "name": "laan.pdf",
        "content": b"%PDF-1.7 agreement \x00",
        "created_at": T0,
        "signed_order": None,
        "signed_at": None,
    }
    values.update(kw)
    return Agreement(**values)

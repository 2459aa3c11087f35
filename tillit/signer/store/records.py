"""The store's rows as dataclasses, one per table; the order states and kinds are signer/states.py.

Each dataclass holds one row of its table: the queries name the columns from the fields
(`store.queries`), so every field is a column of the same name.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from tillit.signer.states import OPEN_STATES, HintCode, OrderKind, OrderMethod, OrderStatus


@dataclass
class Customer:
    id: str
    personal_number: str
    name: str
    mobile: str
    email: str
    born: str
    password_hash: str
    failed_passwords: int
    password_locked: int
    status: str
    key_label: str
    cert_serial: str | None
    guardian_id: str | None
    last_method: str | None
    created_at: float
    key_generation: int = 1
    blocked_reason: str | None = None
    failed_answers: int = 0
    answers_locked: int = 0
    password_seal: str | None = None
    """signer/seals.py: the HSM's tag on `password_hash` (None only in a store from before seals)."""

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "personalNumber": self.personal_number,
            "name": self.name,
            "mobile": self.mobile,
            "email": self.email,
            "born": self.born,
            "status": self.status,
            "passwordLocked": bool(self.password_locked),
            "failedPasswords": self.failed_passwords,
            "controlAnswersLocked": bool(self.answers_locked),
            "certificateSerial": self.cert_serial,
            "lastMethod": self.last_method,
        }


@dataclass
class Device:
    id: str
    customer_id: str
    public_key: bytes
    name: str
    status: str
    activated_at: float
    deactivated_at: float | None
    biometric: int = 0
    key_seal: str | None = None
    """signer/seals.py: the HSM's tag on `public_key` (None only in a store from before seals)."""

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "activatedAt": self.activated_at,
            "biometric": bool(self.biometric),
        }


@dataclass
class Kiosk:
    id: str
    name: str
    token_hash: str
    status: str
    created_at: float
    role: str = "kiosk"
    stored_bytes: int = 0


@dataclass
class CodeDevice:
    serial: str
    customer_id: str | None
    status: str
    failures: int
    last_counter: int
    assigned_at: float | None


@dataclass
class Activation:
    id: str
    customer_id: str | None
    method: str
    device_name: str
    public_key: bytes
    created_at: float
    expires_at: float
    status: str
    sms_code_hash: str | None
    email_code_hash: str | None
    failures: int
    order_ref: str | None
    personal_number: str | None = None


@dataclass
class Order:
    ref: str
    kind: str
    customer_id: str | None
    kiosk_id: str
    reference: str
    user_visible_data: str
    nonce: str
    method: str
    created_at: float
    expires_at: float
    status: str
    hint_code: str
    device_id: str | None
    level: str | None
    approved_at: float | None
    completed_at: float | None
    completion: str | None
    agreement_id: str | None
    signatures: int
    subject_id: str | None = None
    answer_failures: int = 0
    feedback_given: int = 0
    approval: str | None = None
    runner: str | None = None
    """The instance running this order's password check or signing (`SignerSettings.instance_id`)."""
    lease_until: float | None = None
    """Until when `runner` holds it: after that another instance may take the order over."""
    grant_seal: str | None = None
    """signer/seals.py: the HSM's tag made when the password (or a biometric approval) was accepted,
    without which nothing is signed with the customer's key for this order."""

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATES

    @classmethod
    def new(
        cls,
        kind: OrderKind,
        *,
        kiosk_id: str,
        reference: str,
        user_visible_data: str,
        method: OrderMethod,
        at: float,
        lifetime: float,
        customer_id: str | None = None,
        device_id: str | None = None,
        agreement_id: str | None = None,
        subject_id: str | None = None,
    ) -> Order:
        """A pending order made at `at`, living `lifetime` seconds, with a fresh ref and nonce."""
        return cls(
            ref=str(uuid.uuid4()),
            kind=str(kind),  # plain strings in the rows: a driver may write an enum by its name
            customer_id=customer_id,
            kiosk_id=kiosk_id,
            reference=reference,
            user_visible_data=user_visible_data,
            nonce=secrets.token_urlsafe(24),
            method=str(method),
            created_at=at,
            expires_at=at + lifetime,
            status=str(OrderStatus.PENDING),
            hint_code=str(HintCode.OUTSTANDING_TRANSACTION),
            device_id=device_id,
            level=None,
            approved_at=None,
            completed_at=None,
            completion=None,
            agreement_id=agreement_id,
            signatures=0,
            subject_id=subject_id,
        )


@dataclass
class StoredDocument:
    order_ref: str
    idx: int
    name: str
    content_type: str
    content: bytes
    sha256: str
    signed: bytes | None
    fetched_at: float | None = None


@dataclass
class Agreement:
    id: str
    customer_id: str
    title: str
    name: str
    content: bytes
    created_at: float
    signed_order: str | None
    signed_at: float | None


@dataclass
class AuditEntry:
    seq: int
    at: float
    event: str
    subject: str
    data: str
    prev_hash: str
    hash: str


@dataclass
class DevicePin:
    """What the signer keeps of a device's app PIN (signer/device_pins.py)."""

    device_id: str
    unlock_key: bytes
    verifier_hash: str
    server_secret: bytes
    failures: int
    locked_at: float | None
    created_at: float


@dataclass
class AuditCheckpoint:
    seq: int
    hash: str
    at: int
    reason: str
    signature: str

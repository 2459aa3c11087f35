"""What the kiosk remembers about the customer in front of it, and nothing more; forgotten on reset."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from tillit.kiosk.client import Agreement

OrderKind = Literal["auth", "sign", "reset"]
Method = Literal["app", "codedevice", "biometric"]
METHODS: tuple[Method, ...] = get_args(Method)
"""The login methods, in the order the method screen offers them."""


@dataclass(frozen=True)
class Customer:
    id: str
    personal_number: str
    name: str
    born: str
    certificate_serial: str | None

    @classmethod
    def from_completion(cls, data: dict[str, Any]) -> Customer:
        return cls(
            id=str(data.get("id", "")),
            personal_number=str(data.get("personalNumber", "")),
            name=str(data.get("name", "")),
            born=str(data.get("born", "")),
            certificate_serial=data.get("certificateSerial"),
        )


@dataclass
class Session:
    """A logged-in customer: the completion token is the customer session's bearer."""

    customer: Customer
    token: str
    order_ref: str = ""
    """The login order; it proves this customer's login to the signer (e.g. when blocking)."""
    feedback_asked: bool = False
    """The feedback question has been put to this customer (once per session: after the first receipt,
    else at logging out)."""


@dataclass
class Order:
    """The order the kiosk is waiting on."""

    kind: OrderKind
    method: Method
    personal_number: str
    order_ref: str
    reference: str
    expires_at: float
    agreement: Agreement | None = None
    remembered: bool = False
    """Started with the customer's remembered login method, without asking: "Other login" (F4) is offered."""


@dataclass(frozen=True)
class SignedFile:
    name: str
    path: Path
    sha256: str
    format: str


@dataclass(frozen=True)
class Receipt:
    title: str
    order_ref: str
    reference: str
    signed_at: float
    customer_name: str
    certificate_serial: str | None
    files: list[SignedFile] = field(default_factory=list)


@dataclass(frozen=True)
class DemoCustomer:
    """A customer of the embedded demo, listed on the welcome screen."""

    name: str
    personal_number: str
    password: str
    """Empty when the customer changed it at the kiosk in an earlier run (nobody here knows it)."""
    note: str
    """A key of the kiosk's catalogs (kiosk.po): what this customer shows in the demo."""

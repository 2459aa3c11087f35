"""A customer's certificate as the CA ledger has it now: valid, revoked, expired or missing.

`customers show` prints it (from the ledger alone, so also while the HSM is away), and a sign order
is refused up front (`/v1/sign`, 409) when it is not valid: the HSM would refuse to sign at the end
anyway, after the phone's approval and the password.
Login does not use the customer's certificate (the completion token is signed by the service key),
so a customer whose certificate is revoked can still log in, read agreements, and block.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from tillit.hsm.ca import CertificateAuthority
from tillit.hsm.ca_ledger import CaLedger
from tillit.hsm.cert_profiles import REVOCATION_REASONS
from tillit.signer import errors
from tillit.signer.store.records import Customer

Status = Literal["valid", "revoked", "expired", "missing"]

# The ledger keeps asn1crypto's names (key_compromise); people read the RFC 5280 ones (keyCompromise).
_RFC_NAME = {stored: rfc for rfc, stored in REVOCATION_REASONS.items()}

# Why a sign order cannot start, by status: the kiosk's error code and the reason naming the fix.
_REFUSALS: dict[Status, tuple[str, str]] = {
    "revoked": ("certificateRevoked", "the customer's certificate is revoked"),
    "expired": ("certificateExpired", "the customer's certificate has expired"),
    "missing": ("noCertificate", "the customer has no certificate"),
}


@dataclass(frozen=True)
class CertificateState:
    serial: str | None
    status: Status
    not_after: datetime | None = None
    revoked_at: datetime | None = None
    reason: str | None = None  # RFC 5280 name, when revoked

    @property
    def valid(self) -> bool:
        return self.status == "valid"

    def public(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "status": self.status,
            "notAfter": self.not_after.isoformat() if self.not_after else None,
            "revokedAt": self.revoked_at.isoformat() if self.revoked_at else None,
            "reason": self.reason,
        }


def certificate_state(ca: CertificateAuthority, customer: Customer, now: datetime | None = None) -> CertificateState:
    """The customer's current certificate looked up in the CA's ledger: `ledger_certificate_state`."""
    return ledger_certificate_state(ca.ledger, customer, now)


def ledger_certificate_state(ledger: CaLedger, customer: Customer, now: datetime | None = None) -> CertificateState:
    """The customer's current certificate looked up in the CA ledger (one indexed read). The ledger is
    a database, not the token, so this answers while the HSM is away (`customers show` then)."""
    if customer.cert_serial is None:
        return CertificateState(None, "missing")
    issued = ledger.get(int(customer.cert_serial, 16))
    if issued is None:
        return CertificateState(customer.cert_serial, "missing")
    if issued.revoked_at is not None:
        reason = _RFC_NAME.get(issued.reason or "unspecified", issued.reason)
        return CertificateState(customer.cert_serial, "revoked", issued.not_after, issued.revoked_at, reason)
    if issued.not_after <= (now or datetime.now(UTC)):
        return CertificateState(customer.cert_serial, "expired", issued.not_after)
    return CertificateState(customer.cert_serial, "valid", issued.not_after)


def sign_refusal(state: CertificateState) -> errors.Conflict | None:
    """The 409 that refuses a sign order for a certificate that is not valid, naming the
    administrator's fix; None for a valid one."""
    if state.valid:
        return None
    code, what = _REFUSALS[state.status]
    if state.status != "missing":
        what += f" (serial {state.serial})"
    fix = "the bank's staff can issue a new one with `tillit-signer customers reissue-certificate`"
    return errors.Conflict(f"{what}, so it cannot sign; {fix}", code)

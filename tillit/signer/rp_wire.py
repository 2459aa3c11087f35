"""The BankID RP API v6.0 bodies as Tillit's RP face takes and answers them (docs/rp-api.md).

Field names and meanings are BankID's: requests with `endUserIp`, `requirement`, base64
`userVisibleData` and `userNonVisibleData`; answers with the start tokens, `collect`'s status,
hint code and completion data; errors as {"errorCode", "details"}. Fields BankID defines that Tillit
takes but does not act on are listed in docs/rp-api.md; any other field is refused
(`invalidParameters`), so a misspelt one does not pass unnoticed.

Of the signer it imports only `wire` (the check on text a person reads).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tillit.signer.wire import visible_text_problem

# BankID's limits on the base64 text: userVisibleData 1-40,000 characters, userNonVisibleData 1-200,000.
VISIBLE_DATA_CHARS = 40_000
NON_VISIBLE_DATA_CHARS = 200_000


class RpWire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class Requirement(RpWire):
    """`requirement`: what the RP asks of the order. Tillit honours `personalNumber` (only that
    customer's phone may take the order); `pinCode` is always met (the password is always asked);
    the others are taken and not acted on."""

    personal_number: str | None = Field(alias="personalNumber", default=None, max_length=64)
    pin_code: bool | None = Field(alias="pinCode", default=None)
    mrtd: bool | None = None
    card_reader: str | None = Field(alias="cardReader", default=None, max_length=64)
    certificate_policies: list[str] | None = Field(alias="certificatePolicies", default=None, max_length=20)
    risk: str | None = Field(default=None, max_length=16)


def _text(value: str | None) -> str | None:
    """Base64 of UTF-8 text, as BankID wants userVisibleData; ValueError otherwise."""
    if value is None:
        return None
    try:
        text = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("must be base64 of UTF-8 text") from None
    problem = visible_text_problem(text, lines=True)
    if problem:
        raise ValueError(f"the decoded text {problem}")
    return value


def _base64(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be base64") from None
    return value


class _StartFields(RpWire):
    requirement: Requirement | None = None
    user_visible_data: str | None = Field(
        alias="userVisibleData", default=None, min_length=1, max_length=VISIBLE_DATA_CHARS, description="base64"
    )
    user_non_visible_data: str | None = Field(
        alias="userNonVisibleData", default=None, min_length=1, max_length=NON_VISIBLE_DATA_CHARS
    )
    user_visible_data_format: Literal["plaintext", "simpleMarkdownV1"] | None = Field(
        alias="userVisibleDataFormat", default=None
    )

    _visible = field_validator("user_visible_data")(_text)
    _non_visible = field_validator("user_non_visible_data")(_base64)

    def visible_text(self) -> str | None:
        """userVisibleData decoded: the text the phone shows."""
        return base64.b64decode(self.user_visible_data).decode() if self.user_visible_data else None


class AuthBody(_StartFields):
    """`/auth` (and, with userVisibleData required, `/sign`)."""

    end_user_ip: str = Field(alias="endUserIp", max_length=64)
    return_url: str | None = Field(alias="returnUrl", default=None, max_length=512)
    return_risk: bool | None = Field(alias="returnRisk", default=None)
    web: dict[str, Any] | None = None
    app: dict[str, Any] | None = None

    @field_validator("end_user_ip")
    @classmethod
    def _address(cls, value: str) -> str:
        return str(ipaddress.ip_address(value))


class SignBody(AuthBody):
    user_visible_data: str = Field(
        alias="userVisibleData", min_length=1, max_length=VISIBLE_DATA_CHARS, description="base64"
    )


class PhoneAuthBody(_StartFields):
    """`/phone/auth` (and, with userVisibleData required, `/phone/sign`): the user is on the phone
    with the RP, who names them."""

    personal_number: str = Field(alias="personalNumber", max_length=64)
    call_initiator: Literal["user", "RP"] = Field(alias="callInitiator")


class PhoneSignBody(PhoneAuthBody):
    user_visible_data: str = Field(
        alias="userVisibleData", min_length=1, max_length=VISIBLE_DATA_CHARS, description="base64"
    )


class OrderRefBody(RpWire):
    order_ref: str = Field(alias="orderRef", max_length=64)


class Started(RpWire):
    order_ref: str = Field(alias="orderRef")
    auto_start_token: str = Field(alias="autoStartToken")
    qr_start_token: str = Field(alias="qrStartToken")
    qr_start_secret: str = Field(alias="qrStartSecret")


class PhoneStarted(RpWire):
    order_ref: str = Field(alias="orderRef")


class CompletionUser(RpWire):
    personal_number: str = Field(alias="personalNumber")
    name: str
    given_name: str = Field(alias="givenName")
    surname: str


class CompletionDevice(RpWire):
    ip_address: str = Field(alias="ipAddress")
    uhi: str = Field(description="a stable pseudonymous id of the phone that approved")


class StepUp(RpWire):
    mrtd: bool


class Completion(RpWire):
    user: CompletionUser
    device: CompletionDevice
    step_up: StepUp = Field(alias="stepUp")
    bank_id_issue_date: str = Field(alias="bankIdIssueDate", description="YYYY-MM-DD")
    signature: str = Field(
        description="base64 DER CMS SignedData with the signed JSON inside (encapsulated; docs/rp-api.md)"
    )
    ocsp_response: str = Field(alias="ocspResponse", description="base64 DER OCSPResponse")


class Collected(RpWire):
    order_ref: str = Field(alias="orderRef")
    status: Literal["pending", "failed", "complete"]
    hint_code: str | None = Field(alias="hintCode", default=None)
    completion_data: Completion | None = Field(alias="completionData", default=None)


class RpError(RpWire):
    error_code: str = Field(alias="errorCode")
    details: str

"""The wire format shared by the signer, the kiosk and the phone: API bodies and signed messages.

This module imports nothing else of the signer, so kiosk/ and phone/ may import it.

Canonical encoding (what a device signs). A challenge is a JSON object
  {"v":1,"kind","method","orderRef","kiosk":{"id","name"},"userVisibleData",
   "documents":[{"name","sha256"}],"nonce","expiresAt"}
(`method` "biometric": the approval alone completes the login, without the password)
serialised with sorted keys, no whitespace, UTF-8, no escaping of non-ASCII (`canonical_json`),
`expiresAt` in integer Unix seconds and `sha256` in lowercase hex. The device signs, with ECDSA
P-256 / SHA-256 (DER signature, base64 on the wire),
  b"tillit-approval-v1\\n" + decision + b"\\n" + canonical challenge
so a decline can never be turned into an approval. Phone requests are signed over
  b"tillit-request-v1\\n" + METHOD + "\\n" + path?query + "\\n" + hex(sha256(body)) + "\\n" +
  timestamp + "\\n" + nonce
sent as the headers X-Tillit-Device, X-Tillit-Timestamp, X-Tillit-Nonce, X-Tillit-Signature.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# The number format is part of the wire format: kiosks validate as the customer types.
from tillit.numbers import InvalidPersonalNumber, PersonalNumber, birth_century, check_digits
from tillit.numbers import parse as parse_personal_number

__all__ = ["InvalidPersonalNumber", "PersonalNumber", "birth_century", "check_digits", "parse_personal_number"]

APPROVAL_CONTEXT = b"tillit-approval-v1\n"
ACTIVATION_CONTEXT = b"tillit-activation-v1\n"
REQUEST_CONTEXT = b"tillit-request-v1\n"
DEVICE_HEADER = "X-Tillit-Device"
TIMESTAMP_HEADER = "X-Tillit-Timestamp"
NONCE_HEADER = "X-Tillit-Nonce"
SIGNATURE_HEADER = "X-Tillit-Signature"
REQUEST_SKEW_SECONDS = 60
# The customer session's calls carry the login's completion token in this header, beside the kiosk's
# own bearer token: a session token alone, or at another kiosk, opens nothing.
SESSION_HEADER = "X-Tillit-Session"

OrderStatus = Literal["pending", "failed", "complete"]
HintCode = Literal[
    "outstandingTransaction",
    "userSign",
    "expiredTransaction",
    "userCancel",
    "cancelled",
    "alreadyInProgress",
    "passwordLocked",
    "blocked",
    "noDevice",
    "wrongPassword",
    "signingFailed",
    "noCodeDevice",
    "codeDeviceSuspended",
    "wrongCode",
    "answersLocked",
]
Decision = Literal["approve", "decline"]


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def approval_message(challenge: dict[str, Any], decision: str) -> bytes:
    return APPROVAL_CONTEXT + decision.encode() + b"\n" + canonical_json(challenge)


def activation_proof_message(activation_id: str) -> bytes:
    """What a new phone signs to prove it holds the key it asks to activate."""
    return ACTIVATION_CONTEXT + activation_id.encode()


def request_message(method: str, path: str, body: bytes, timestamp: str, nonce: str) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return REQUEST_CONTEXT + "\n".join([method.upper(), path, digest, timestamp, nonce]).encode()


# Characters that change how text around them is shown without being seen themselves: the bidi
# embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069). With U+202E a phone would show
# "Betal 001 kr" for text that says "Betal 100 kr" to the signer: refused wherever a person reads it.
_BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))


def visible_text_problem(text: str, *, lines: bool) -> str | None:
    """Why `text` may not be shown to a person as it stands (or None): a control character (other
    than line breaks and tabs where `lines`) or a bidi embedding, override or isolate."""
    allowed = "\n\r\t" if lines else ""
    for char in text:
        if char in _BIDI_CONTROLS:
            return f"must not contain the bidi control U+{ord(char):04X}, which reorders what is shown"
        if unicodedata.category(char) == "Cc" and char not in allowed:
            return f"must not contain the control character U+{ord(char):04X}"
    return None


def _shown(*, lines: bool) -> AfterValidator:
    """A validator refusing what `visible_text_problem` refuses, with its reason."""

    def check(text: str) -> str:
        problem = visible_text_problem(text, lines=lines)
        if problem:
            raise ValueError(problem)
        return text

    return AfterValidator(check)


# Text a person reads (the phone, the kiosk, a file name in a download): no hidden characters.
Name = Annotated[str, _shown(lines=False)]
VisibleText = Annotated[str, _shown(lines=True)]


class Wire(BaseModel):
    """A request the signer reads: a field it does not know is refused (400), not ignored."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class Answer(Wire):
    """What the signer answers and its clients (the phone, the kiosk) read: a field a client does
    not know is ignored, so that a newer signer's additions do not break phones and kiosks already
    out there (as `deactivatedReason` would have broken the phones made before it)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class Document(Wire):
    name: Name = Field(min_length=1, max_length=200)
    content_type: str = Field(alias="contentType", default="application/octet-stream", max_length=100)
    content: str = Field(description="base64")


class AuthRequest(Wire):
    personal_number: str = Field(alias="personalNumber", max_length=64)
    user_visible_data: VisibleText | None = Field(alias="userVisibleData", default=None, max_length=2000)
    method: Literal["app", "codedevice", "biometric"] = "app"


class SignRequest(Wire):
    personal_number: str = Field(alias="personalNumber", max_length=64)
    user_visible_data: VisibleText = Field(alias="userVisibleData", min_length=1, max_length=2000)
    documents: list[Document] = Field(default_factory=list, max_length=10)
    agreement_id: str | None = Field(alias="agreementId", default=None, max_length=64)


class OrderStarted(Answer):
    order_ref: str = Field(alias="orderRef")
    reference: str
    expires_at: int = Field(alias="expiresAt", description="Unix seconds")


class OrderRefRequest(Wire):
    order_ref: str = Field(alias="orderRef", max_length=64)


class PasswordRequest(Wire):
    order_ref: str = Field(alias="orderRef", max_length=64)
    password: str = Field(max_length=256)


# A one-time code: ASCII digits, blanks around them allowed (other scripts' digits are refused).
CODE_PATTERN = r"^\s*[0-9]{1,12}\s*$"


class CodeRequest(Wire):
    order_ref: str = Field(alias="orderRef", max_length=64)
    code: str = Field(max_length=16, pattern=CODE_PATTERN)


class CompletionData(Answer):
    customer: dict[str, Any]
    device: dict[str, Any] | None = None
    token: str
    level: str
    signatures: list[dict[str, Any]] | None = None


class CollectResponse(Answer):
    order_ref: str = Field(alias="orderRef")
    status: OrderStatus
    hint_code: str | None = Field(alias="hintCode", default=None)
    attempts_left: int | None = Field(alias="attemptsLeft", default=None)
    completion_data: CompletionData | None = Field(alias="completionData", default=None)


class AppRequest(Answer):
    """A pending request as the phone sees it."""

    order_ref: str = Field(alias="orderRef")
    reference: str
    kind: str
    method: str = Field(
        default="app", description="'biometric': a login that completes on this approval, without the password"
    )
    kiosk_name: str = Field(alias="kioskName")
    user_visible_data: str = Field(alias="userVisibleData")
    documents: list[dict[str, str]]
    expires_at: int = Field(alias="expiresAt")
    challenge: dict[str, Any]
    password_by: Literal["kiosk", "phone"] = Field(
        alias="passwordBy",
        default="kiosk",
        description="where the password is asked after the approval: 'phone' (orders from the RP API"
        " face) sends it to POST /v1/app/requests/{orderRef}/password",
    )
    user_visible_data_format: Literal["plaintext", "simpleMarkdownV1"] = Field(
        alias="userVisibleDataFormat", default="plaintext"
    )


DEACTIVATION_REASONS = ("replaced", "blocked", "locked", "byTheBank")
"""Why a device is no longer active (`deactivatedReason`, signer/deactivation.py): BankID activated on
another device; the customer blocked; five wrong app PINs in a row; deactivated by the bank otherwise
(e.g. blocked, then unblocked: no device comes back). A phone words an unknown one as it words none."""


def _absent(value: object) -> bool:
    return value is None


class AppRequests(Answer):
    requests: list[AppRequest]
    device_status: str = Field(alias="deviceStatus")
    deactivated_reason: str | None = Field(
        alias="deactivatedReason",
        default=None,
        exclude_if=_absent,
        description="with deviceStatus 'deactivated' only: why, one of DEACTIVATION_REASONS",
    )


class AppDecision(Wire):
    decision: Decision
    signature: str = Field(description="base64 DER ECDSA over approval_message(challenge, decision)")
    biometric: bool = False


# -- orders from the RP API face, taken by the phone (signer/orders/rp_claims.py) ----------------

SCAN_PATH = "/v1/app/scan"
AUTOSTART_PATH = "/v1/app/autostart"


class ScanRequest(Wire):
    """`POST /v1/app/scan`: the animated QR code's content, bankid.<qrStartToken>.<qrTime>.<qrAuthCode>."""

    qr_content: str = Field(alias="qrContent", max_length=200)


class AutostartRequest(Wire):
    """`POST /v1/app/autostart`: the app started on the same device with the order's autoStartToken."""

    auto_start_token: str = Field(alias="autoStartToken", max_length=64)


class PhonePassword(Wire):
    """`POST /v1/app/requests/{orderRef}/password`, for an approved order whose `passwordBy` is phone."""

    password: str = Field(max_length=256)


class AppSettings(Answer):
    biometric: bool = Field(description="login without password (biometric or app PIN) allowed for this device")


class ActivationStart(Wire):
    personal_number: str = Field(alias="personalNumber", max_length=64)
    method: Literal["codedevice", "sms-email", "old-device"]
    device_name: Name = Field(alias="deviceName", default="phone", max_length=100)
    public_key: str = Field(alias="publicKey", max_length=4000, description="PEM, ECDSA P-256")


class ActivationComplete(Wire):
    proof: str = Field(description="base64 DER ECDSA by the new key over b'tillit-activation-v1\\n' + activationId")
    password: str = Field(max_length=256)
    sms_code: str | None = Field(alias="smsCode", default=None, max_length=16, pattern=CODE_PATTERN)
    email_code: str | None = Field(alias="emailCode", default=None, max_length=16, pattern=CODE_PATTERN)
    code: str | None = Field(default=None, max_length=16, pattern=CODE_PATTERN)


class AgreementIn(Wire):
    personal_number: str = Field(alias="personalNumber", max_length=64)
    title: Name = Field(min_length=1, max_length=200)
    name: Name = Field(default="avtale.pdf", min_length=1, max_length=200)
    document: str = Field(description="base64 PDF")


class BlockRequest(Wire):
    personal_number: str = Field(alias="personalNumber", max_length=64)
    order_ref: str | None = Field(alias="orderRef", default=None, max_length=64)
    reason: str = Field(default="blocked at the kiosk", max_length=200)


class ResetStart(Wire):
    personal_number: str = Field(alias="personalNumber", max_length=64)
    method: Literal["app", "codedevice"] = "app"
    user_visible_data: str | None = Field(
        alias="userVisibleData",
        default=None,
        max_length=2000,
        description="the text the phone shows, in the customer's language; default a Nynorsk one",
    )


ControlQuestion = Literal["firstPet", "childhoodStreet", "mothersMiddleName"]
"""The control questions by code (the first pet's name, the street lived in as a child, the mother's
middle name): kiosks word them in the customer's language."""


class ResetQuestions(Wire):
    order_ref: str = Field(alias="orderRef")
    questions: list[ControlQuestion] = Field(description="the customer's control questions as codes, in order")


class ResetComplete(Wire):
    order_ref: str = Field(alias="orderRef", max_length=64)
    answers: list[str] = Field(max_length=10)
    new_password: str = Field(alias="newPassword", max_length=256)


class FeedbackIn(Wire):
    order_ref: str = Field(alias="orderRef", max_length=64)
    rating: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=500)


class MethodQuery(Wire):
    personal_number: str = Field(alias="personalNumber", max_length=64)


class ErrorBody(Answer):
    error: str
    reason: str
    deactivated_reason: str | None = Field(
        alias="deactivatedReason",
        default=None,
        exclude_if=_absent,
        description="with 403 deviceDeactivated only (to the device itself): why, one of DEACTIVATION_REASONS",
    )


# -- the app PIN, checked by the signer (signer/device_pins.py, phone/keystore.py) -----------------

PIN_PATH = "/v1/app/pin"
UNLOCK_PATH = "/v1/app/unlock"
PIN_ATTEMPTS = 5
"""Wrong app PINs in a row after which the signer locks the device for good (activate again)."""


class PinRegistration(Wire):
    """`POST /v1/app/pin`, signed by the device key once, right after activation."""

    unlock_key: str = Field(alias="unlockKey", max_length=4000, description="PEM, ECDSA P-256: signs unlock requests")
    pin_verifier: str = Field(alias="pinVerifier", max_length=64, description="base64, 32 bytes derived from the PIN")
    server_secret: str = Field(alias="serverSecret", max_length=64, description="base64, 32 random bytes")


class UnlockRequest(Wire):
    """`POST /v1/app/unlock`, signed by the unlock key (X-Tillit-* headers as any phone request)."""

    pin_verifier: str = Field(alias="pinVerifier", max_length=64, description="base64, 32 bytes derived from the PIN")


class UnlockGranted(Answer):
    server_secret: str = Field(alias="serverSecret", description="base64: the other half of the device key's wrap")


class PinRefusal(Answer):
    """A wrong app PIN (401 `wrongPin`); `attemptsLeft` before the device is locked."""

    error: str
    reason: str
    attempts_left: int = Field(alias="attemptsLeft")

"""The phone's HTTP client: every request signed with the device key (no bearer secrets on the phone).

`unlock_secret` is the one request signed by the profile's unlock key instead: it asks the signer to
check the app PIN and release the secret that, with the PIN, opens the device key (phone/keystore.py).

Besides the requests addressed to this phone's customer, the phone claims an order by the content of
its QR code (`scan`) or its autostart token (`autostart`), and for an order whose `passwordBy` is
"phone" sends the BankID password itself after approving (`password`).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any, Protocol

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tillit.signer.wire import (
    AUTOSTART_PATH,
    DEVICE_HEADER,
    NONCE_HEADER,
    PIN_PATH,
    SCAN_PATH,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    UNLOCK_PATH,
    AppRequest,
    AppRequests,
    AppSettings,
    AutostartRequest,
    CollectResponse,
    PhonePassword,
    PinRegistration,
    ScanRequest,
    UnlockGranted,
    UnlockRequest,
    approval_message,
    request_message,
)

SETTINGS_PATH = "/v1/app/settings"


def password_path(order_ref: str) -> str:
    return f"/v1/app/requests/{order_ref}/password"


class PhoneError(Exception):
    """The signer's refusal: its status, code and reason, the attempts left after a wrong PIN, and why
    the device is deactivated with 403 `deviceDeactivated` (`wire.DEACTIVATION_REASONS`; None from a
    signer that does not say)."""

    def __init__(
        self,
        status: int,
        code: str,
        reason: str,
        attempts_left: int | None = None,
        deactivated_reason: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason
        self.attempts_left = attempts_left
        self.deactivated_reason = deactivated_reason


def sign_bytes(key: ec.EllipticCurvePrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, ec.ECDSA(hashes.SHA256()))).decode()


def not_a_signers_answer(response: httpx.Response) -> str:
    """One line for an error that is not the signer's JSON (another server at that URL, a proxy): its
    status, never its body, which may be a whole HTML page."""
    try:
        where = f" from {response.request.url.copy_with(path='/', query=None, fragment=None)}"
    except RuntimeError:  # a response made without its request
        where = ""
    phrase = f" {response.reason_phrase}" if response.reason_phrase else ""
    return f"HTTP {response.status_code}{phrase}{where}, not an answer of a Tillit signer (is that the signer's URL?)"


def raise_for_error(response: httpx.Response) -> None:
    if response.status_code >= 400:
        attempts_left: int | None = None
        deactivated_reason: str | None = None
        try:
            body = response.json()
            code, reason = str(body["error"]), str(body.get("reason") or body["error"])
            if isinstance(body.get("attemptsLeft"), int):
                attempts_left = int(body["attemptsLeft"])
            if isinstance(body.get("deactivatedReason"), str):
                deactivated_reason = str(body["deactivatedReason"])
        except (ValueError, AttributeError, KeyError, TypeError):
            code, reason = "error", not_a_signers_answer(response)
        raise PhoneError(response.status_code, code, reason, attempts_left, deactivated_reason)


def signed_headers(
    device_id: str, key: ec.EllipticCurvePrivateKey, method: str, path: str, body: bytes
) -> dict[str, str]:
    """The X-Tillit-* headers of a request signed by `key` (the device key, or the unlock key)."""
    timestamp = str(int(time.time()))
    nonce = secrets.token_urlsafe(16)
    return {
        DEVICE_HEADER: device_id,
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: sign_bytes(key, request_message(method, path, body, timestamp, nonce)),
    }


def unlock_secret(
    server: str,
    device_id: str,
    unlock_key: ec.EllipticCurvePrivateKey,
    verifier: bytes,
    http: httpx.Client | None = None,
) -> bytes:
    """`POST /v1/app/unlock` signed by the unlock key: the server secret for a right PIN. PhoneError
    `wrongPin` (with `attempts_left`), `deviceLocked` or `deviceDeactivated` otherwise."""
    body = UnlockRequest(pin_verifier=base64.b64encode(verifier).decode()).model_dump_json(by_alias=True).encode()
    headers = {**signed_headers(device_id, unlock_key, "POST", UNLOCK_PATH, body), "Content-Type": "application/json"}
    url = server.rstrip("/") + UNLOCK_PATH
    if http is None:
        with httpx.Client(timeout=15) as own:
            response = own.post(url, content=body, headers=headers)
    else:
        response = http.post(url, content=body, headers=headers)
    raise_for_error(response)
    return base64.b64decode(UnlockGranted.model_validate(response.json()).server_secret)


class PhoneClient:
    def __init__(
        self, server: str, device_id: str, key: ec.EllipticCurvePrivateKey, http: httpx.Client | None = None
    ) -> None:
        self.server = server.rstrip("/")
        self.device_id = device_id
        self.key = key
        self.http = http or httpx.Client(timeout=httpx.Timeout(10.0, read=90.0))

    def close(self) -> None:
        self.http.close()

    def signed_headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        return signed_headers(self.device_id, self.key, method, path, body)

    def request(self, method: str, path: str, payload: Any = None, timeout: float | None = None) -> httpx.Response:
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = self.signed_headers(method, path, body)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        kwargs: dict[str, Any] = {}
        if timeout is not None:
            kwargs["timeout"] = timeout
        return self.http.request(method, self.server + path, content=body, headers=headers, **kwargs)

    def requests(self, wait: float = 0) -> AppRequests:
        path = "/v1/app/requests" + (f"?wait={wait:g}" if wait else "")
        response = self.request("GET", path, timeout=wait + 15)
        raise_for_error(response)
        return AppRequests.model_validate(response.json())

    def decide(self, request: AppRequest, decision: str, biometric: bool = False) -> dict[str, Any]:
        signature = sign_bytes(self.key, approval_message(request.challenge, decision))
        response = self.request(
            "POST",
            f"/v1/app/requests/{request.order_ref}",
            {"decision": decision, "signature": signature, "biometric": biometric},
        )
        raise_for_error(response)
        return dict(response.json())

    def settings(self, *, biometric: bool) -> AppSettings:
        """`POST /v1/app/settings`: tell the signer whether login without password is on; its answer."""
        response = self.request("POST", SETTINGS_PATH, AppSettings(biometric=biometric).model_dump())
        raise_for_error(response)
        return AppSettings.model_validate(response.json())

    def scan(self, qr_content: str) -> AppRequest:
        """`POST /v1/app/scan`: claim the order whose animated QR code this is; the request, now this
        customer's. PhoneError `invalidQr` (400), `wrongCustomer` (403), `notFound` (404),
        `alreadyClaimed` (409) or `qrExpired` (410) when the signer refuses."""
        response = self.request("POST", SCAN_PATH, ScanRequest(qr_content=qr_content).model_dump(by_alias=True))
        raise_for_error(response)
        return AppRequest.model_validate(response.json())

    def autostart(self, token: str) -> AppRequest:
        """`POST /v1/app/autostart`: claim the order started on this device; answers as `scan`."""
        body = AutostartRequest(auto_start_token=token).model_dump(by_alias=True)
        response = self.request("POST", AUTOSTART_PATH, body)
        raise_for_error(response)
        return AppRequest.model_validate(response.json())

    def password(self, order_ref: str, password: str) -> CollectResponse:
        """`POST /v1/app/requests/{orderRef}/password` after approving an order whose password the phone
        asks: the order's status (a wrong one: pending, `wrongPassword`, `attemptsLeft`; locked: failed,
        `passwordLocked`)."""
        # Not validated here: the signer refuses one over its length limit with a reason (400).
        body = PhonePassword.model_construct(password=password).model_dump()
        response = self.request("POST", password_path(order_ref), body)
        raise_for_error(response)
        return CollectResponse.model_validate(response.json())

    def register_pin(self, registration: PinRegistration) -> None:
        """`POST /v1/app/pin`, once after activation: what the signer needs to check the app PIN."""
        response = self.request("POST", PIN_PATH, registration.model_dump(by_alias=True))
        raise_for_error(response)

    def aio(self) -> AsyncPhoneClient:
        """The same device on an event loop: long-polls that a cancelled worker stops at once."""
        return AsyncPhoneClient(self)


class AsyncRemote(Protocol):
    """What the phone screen needs from the signer: `PhoneClient.aio()` gives one, tests may fake it."""

    async def requests(self, wait: float = 0) -> AppRequests: ...

    async def decide(self, request: AppRequest, decision: str, biometric: bool = False) -> dict[str, Any]: ...

    async def settings(self, *, biometric: bool) -> AppSettings: ...

    async def password(self, order_ref: str, password: str) -> CollectResponse: ...

    async def aclose(self) -> None: ...


class AsyncPhoneClient:
    """`PhoneClient`'s protocol over `httpx.AsyncClient`, signed with the same device key.

    Made by `PhoneClient.aio()`; close it with `aclose()` on the loop that used it.
    """

    def __init__(self, client: PhoneClient, http: httpx.AsyncClient | None = None) -> None:
        self.client = client
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=90.0))

    async def aclose(self) -> None:
        await self.http.aclose()

    async def request(
        self, method: str, path: str, payload: Any = None, timeout: float | None = None
    ) -> httpx.Response:
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = self.client.signed_headers(method, path, body)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        kwargs: dict[str, Any] = {}
        if timeout is not None:
            kwargs["timeout"] = timeout
        return await self.http.request(method, self.client.server + path, content=body, headers=headers, **kwargs)

    async def requests(self, wait: float = 0) -> AppRequests:
        path = "/v1/app/requests" + (f"?wait={wait:g}" if wait else "")
        response = await self.request("GET", path, timeout=wait + 15)
        raise_for_error(response)
        return AppRequests.model_validate(response.json())

    async def decide(self, request: AppRequest, decision: str, biometric: bool = False) -> dict[str, Any]:
        signature = sign_bytes(self.client.key, approval_message(request.challenge, decision))
        response = await self.request(
            "POST",
            f"/v1/app/requests/{request.order_ref}",
            {"decision": decision, "signature": signature, "biometric": biometric},
        )
        raise_for_error(response)
        return dict(response.json())

    async def settings(self, *, biometric: bool) -> AppSettings:
        """`POST /v1/app/settings`, as `PhoneClient.settings`."""
        response = await self.request("POST", SETTINGS_PATH, AppSettings(biometric=biometric).model_dump())
        raise_for_error(response)
        return AppSettings.model_validate(response.json())

    async def password(self, order_ref: str, password: str) -> CollectResponse:
        """`POST /v1/app/requests/{orderRef}/password`, as `PhoneClient.password`."""
        body = PhonePassword.model_construct(password=password).model_dump()  # as PhoneClient.password
        response = await self.request("POST", password_path(order_ref), body)
        raise_for_error(response)
        return CollectResponse.model_validate(response.json())

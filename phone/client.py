"""The phone's HTTP client: every request signed with the device key (no bearer secrets on the phone)."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any, Protocol

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from signer.wire import (
    DEVICE_HEADER,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AppRequest,
    AppRequests,
    AppSettings,
    approval_message,
    request_message,
)

SETTINGS_PATH = "/v1/app/settings"


class PhoneError(Exception):
    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason


def sign_bytes(key: ec.EllipticCurvePrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, ec.ECDSA(hashes.SHA256()))).decode()


def raise_for_error(response: httpx.Response) -> None:
    if response.status_code >= 400:
        try:
            body = response.json()
            code, reason = str(body.get("error", "error")), str(body.get("reason", response.text))
        except ValueError:
            code, reason = "error", response.text
        raise PhoneError(response.status_code, code, reason)


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
        timestamp = str(int(time.time()))
        nonce = secrets.token_urlsafe(16)
        message = request_message(method, path, body, timestamp, nonce)
        return {
            DEVICE_HEADER: self.device_id,
            TIMESTAMP_HEADER: timestamp,
            NONCE_HEADER: nonce,
            SIGNATURE_HEADER: sign_bytes(self.key, message),
        }

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

    def aio(self) -> AsyncPhoneClient:
        """The same device on an event loop: long-polls that a cancelled worker stops at once."""
        return AsyncPhoneClient(self)


class AsyncRemote(Protocol):
    """What the phone screen needs from the signer: `PhoneClient.aio()` gives one, tests may fake it."""

    async def requests(self, wait: float = 0) -> AppRequests: ...

    async def decide(self, request: AppRequest, decision: str, biometric: bool = False) -> dict[str, Any]: ...

    async def settings(self, *, biometric: bool) -> AppSettings: ...

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

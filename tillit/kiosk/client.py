"""The kiosk's one HTTP client for the signer: the order calls (start, collect, password, cancel)
with the kiosk token, and the customer-session calls with the kiosk token and the login's completion
token beside it. Blocking (httpx); screens call it from thread workers only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError

from tillit.signer.wire import SESSION_HEADER, CollectResponse, OrderStarted

NO_ROUTE = "httpError"
"""The code of an error without the signer's JSON error body (an unknown route, a proxy's page)."""


class SignerError(Exception):
    """The signer answered with an error (`status` >= 400), or could not be reached (`status` 0)."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}" if code else reason)
        self.status = status
        self.code = code
        self.reason = reason

    @property
    def unreachable(self) -> bool:
        return self.status == 0

    @property
    def session_ended(self) -> bool:
        return self.status == 401 and self.code in ("sessionExpired", "sessionInvalid", "unauthorized")


class BlockUnavailable(SignerError):
    """The signer has no blocking endpoint (404 on POST /v1/block)."""


@dataclass(frozen=True)
class Agreement:
    id: str
    title: str
    name: str
    size: int
    sha256: str
    created_at: float

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Agreement:
        return cls(
            id=str(data["id"]),
            title=str(data["title"]),
            name=str(data.get("name") or "avtale.pdf"),
            size=int(data.get("size") or 0),
            sha256=str(data.get("sha256") or ""),
            created_at=float(data.get("createdAt") or 0),
        )


class SignerClient:
    def __init__(
        self,
        base_url: str,
        kiosk_token: str,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = kiosk_token
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    # -- plumbing ------------------------------------------------------------------------------

    def _request(self, method: str, path: str, session: str | None = None, json: Any = None) -> httpx.Response:
        """One call with the kiosk's token; `session`, the login's completion token, for the customer
        session's calls (the signer accepts it only together with the token of the kiosk it was issued to)."""
        headers = {"Authorization": f"Bearer {self._token}"}
        if session is not None:
            headers[SESSION_HEADER] = session
        try:
            response = self._http.request(method, path, json=json, headers=headers)
        except httpx.TimeoutException as e:
            raise SignerError(0, "timeout", f"the signer did not answer in time ({type(e).__name__})") from e
        except httpx.HTTPError as e:
            raise SignerError(0, "unreachable", f"cannot reach the signer at {self.base_url} ({e})") from e
        if response.status_code >= 400:
            try:
                body = response.json()
                code = str(body.get("error", NO_ROUTE))
                reason = str(body.get("reason") or body.get("detail") or f"HTTP {response.status_code}")
            except (ValueError, AttributeError):
                code, reason = NO_ROUTE, response.text[:200] or f"HTTP {response.status_code}"
            raise SignerError(response.status_code, code, reason)
        return response

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError as e:
            raise SignerError(502, "badResponse", f"the signer's answer was not understood: {e}") from e
        if not isinstance(data, dict):
            raise SignerError(502, "badResponse", "the signer's answer was not a JSON object")
        return data

    def _collect_response(self, response: httpx.Response) -> CollectResponse:
        try:
            return CollectResponse.model_validate(response.json())
        except (ValueError, ValidationError) as e:
            raise SignerError(502, "badResponse", f"the signer's answer was not understood: {e}") from e

    def _order_started(self, response: httpx.Response) -> OrderStarted:
        try:
            return OrderStarted.model_validate(response.json())
        except (ValueError, ValidationError) as e:
            raise SignerError(502, "badResponse", f"the signer's answer was not understood: {e}") from e

    # -- orders (kiosk token) --------------------------------------------------------------------

    def auth(self, personal_number: str, method: str = "app", user_visible_data: str | None = None) -> OrderStarted:
        body: dict[str, Any] = {"personalNumber": personal_number, "method": method}
        if user_visible_data:
            body["userVisibleData"] = user_visible_data
        return self._order_started(self._request("POST", "/v1/auth", json=body))

    def sign_agreement(self, personal_number: str, agreement_id: str, user_visible_data: str) -> OrderStarted:
        body = {"personalNumber": personal_number, "agreementId": agreement_id, "userVisibleData": user_visible_data}
        return self._order_started(self._request("POST", "/v1/sign", json=body))

    def collect(self, order_ref: str) -> CollectResponse:
        return self._collect_response(self._request("POST", "/v1/collect", json={"orderRef": order_ref}))

    def password(self, order_ref: str, password: str) -> CollectResponse:
        body = {"orderRef": order_ref, "password": password}
        return self._collect_response(self._request("POST", "/v1/password", json=body))

    def code(self, order_ref: str, code: str) -> CollectResponse:
        body = {"orderRef": order_ref, "code": code}
        return self._collect_response(self._request("POST", "/v1/code", json=body))

    def cancel(self, order_ref: str) -> CollectResponse:
        return self._collect_response(self._request("POST", "/v1/cancel", json={"orderRef": order_ref}))

    def signed_document(self, order_ref: str, index: int) -> bytes:
        return self._request("GET", f"/v1/orders/{order_ref}/documents/{index}").content

    def login_method(self, personal_number: str) -> str | None:
        """The customer's remembered login method ("app", "codedevice", "biometric"), or None: let them choose."""
        data = self._json(self._request("POST", "/v1/login-method", json={"personalNumber": personal_number}))
        method = data.get("method")
        return str(method) if method else None

    def feedback(self, order_ref: str, rating: int, comment: str = "") -> None:
        """A rating (1-5) and an optional comment after a completed login or signature (204)."""
        body: dict[str, Any] = {"orderRef": order_ref, "rating": rating}
        if comment:
            body["comment"] = comment
        self._request("POST", "/v1/feedback", json=body)

    def block(self, personal_number: str, order_ref: str | None = None) -> None:
        """Block the BankID (sperre); `order_ref`, a completed login of this customer, when there is one.
        Raises BlockUnavailable when the signer has no such endpoint."""
        body: dict[str, Any] = {"personalNumber": personal_number}
        if order_ref:
            body["orderRef"] = order_ref
        try:
            self._request("POST", "/v1/block", json=body)
        except SignerError as e:
            if e.status in (404, 405) and e.code == NO_ROUTE:
                raise BlockUnavailable(e.status, e.code, e.reason) from e
            raise

    # -- forgotten password (kiosk token) ---------------------------------------------------------

    def reset_start(
        self, personal_number: str, method: str = "app", user_visible_data: str | None = None
    ) -> OrderStarted:
        """Start a forgotten-password reset: the customer approves on the phone first, which shows
        `user_visible_data` (the kiosk's words in the customer's language)."""
        body = {"personalNumber": personal_number, "method": method}
        if user_visible_data:
            body["userVisibleData"] = user_visible_data
        return self._order_started(self._request("POST", "/v1/reset", json=body))

    def reset_questions(self, order_ref: str) -> list[str]:
        """The codes of the customer's control questions (`firstPet`, ...: the kiosk words them), once the
        reset order is approved (409 noControlQuestions: none)."""
        data = self._json(self._request("POST", "/v1/reset/questions", json={"orderRef": order_ref}))
        questions = data.get("questions")
        if not isinstance(questions, list):
            raise SignerError(502, "badResponse", "the signer's answer has no list of questions")
        return [str(q) for q in questions]

    def reset_complete(self, order_ref: str, answers: list[str], new_password: str) -> CollectResponse:
        """The answers and the new password; complete means the password is changed (and unlocked)."""
        body = {"orderRef": order_ref, "answers": answers, "newPassword": new_password}
        return self._collect_response(self._request("POST", "/v1/reset/complete", json=body))

    # -- the customer session (the login's completion token) ---------------------------------------

    def agreements(self, session_token: str) -> list[Agreement]:
        data = self._request("GET", "/v1/agreements", session=session_token).json()
        return [Agreement.from_json(a) for a in data.get("agreements", [])]

    def agreement_document(self, session_token: str, agreement_id: str) -> bytes:
        return self._request("GET", f"/v1/agreements/{agreement_id}/document", session=session_token).content

    def end_session(self, session_token: str) -> None:
        self._request("DELETE", "/v1/session", session=session_token)

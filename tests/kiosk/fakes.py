"""A stand-in for the signer, for snapshot tests: fixed data, no network, no clock."""

from __future__ import annotations

from typing import Any

from tillit.kiosk.client import Agreement, SignerClient, SignerError
from tillit.signer.sample_documents import agreement_pdf
from tillit.signer.wire import CollectResponse, CompletionData, OrderStarted

NOW = 1_790_000_000.0  # a fixed "now" for the countdowns
NUMBER = "13897248098"
CUSTOMER = {
    "id": "c0ffee00-0000-4000-8000-000000000001",
    "personalNumber": NUMBER,
    "name": "Kari Nordmann",
    "born": "1972-09-13",
    "certificateSerial": "4f2a9c1d7e",
}
AGREEMENTS = [
    Agreement("a1", "Lånavtale for bustadlån", "laanavtale.pdf", 5321, "ab" * 32, NOW - 600),
    Agreement("a2", "Avtale om brukskonto", "brukskonto.pdf", 4210, "cd" * 32, NOW - 300),
]


QUESTIONS = ["firstPet", "childhoodStreet", "mothersMiddleName"]  # the signer sends codes: the kiosk words them


def clock() -> float:
    return NOW


class FakeClient(SignerClient):
    """Answers like the signer would, from fixed data; `collect_status` says what collect answers,
    `remembered` what POST /v1/login-method answers."""

    def __init__(self) -> None:
        super().__init__("http://fake.invalid", "tk_fake")
        self.collect_hint = "outstandingTransaction"
        self.collect_status = "pending"
        self.remembered: str | None = "app"
        self.calls: list[tuple[str, Any]] = []
        self.documents = {a.id: agreement_pdf(a.title, "Kari Nordmann", 3) for a in AGREEMENTS}

    def _response(self, status: str, hint: str | None, **extra: Any) -> CollectResponse:
        return CollectResponse.model_validate({"orderRef": "order-1", "status": status, "hintCode": hint, **extra})

    def auth(self, personal_number: str, method: str = "app", user_visible_data: str | None = None) -> OrderStarted:
        self.calls.append(("auth", personal_number))
        return OrderStarted(order_ref="order-1", reference="BLÅ FJORD", expires_at=int(NOW + 180))

    def sign_agreement(self, personal_number: str, agreement_id: str, user_visible_data: str) -> OrderStarted:
        self.calls.append(("sign", agreement_id))
        return OrderStarted(order_ref="order-1", reference="GRØN BØLGJE", expires_at=int(NOW + 180))

    def collect(self, order_ref: str) -> CollectResponse:
        return self._response(self.collect_status, self.collect_hint)

    def password(self, order_ref: str, password: str) -> CollectResponse:
        self.calls.append(("password", order_ref))
        if password != "Fjord-Hest-2024":
            return self._response("pending", "wrongPassword", attemptsLeft=4)
        data = CompletionData(customer=CUSTOMER, token="jwt.fake.token", level="high")
        return CollectResponse(order_ref=order_ref, status="complete", hint_code=None, completion_data=data)

    def code(self, order_ref: str, code: str) -> CollectResponse:
        return self._response("pending", "wrongCode", attemptsLeft=4)

    def cancel(self, order_ref: str) -> CollectResponse:
        self.calls.append(("cancel", order_ref))
        return self._response("failed", "cancelled")

    def agreements(self, session_token: str) -> list[Agreement]:
        return list(AGREEMENTS)

    def agreement_document(self, session_token: str, agreement_id: str) -> bytes:
        return self.documents[agreement_id]

    def end_session(self, session_token: str) -> None:
        self.calls.append(("end_session", session_token))

    def block(self, personal_number: str, order_ref: str | None = None) -> None:
        self.calls.append(("block", personal_number))

    def login_method(self, personal_number: str) -> str | None:
        self.calls.append(("login_method", personal_number))
        return self.remembered

    def feedback(self, order_ref: str, rating: int, comment: str = "") -> None:
        self.calls.append(("feedback", (order_ref, rating, comment)))

    def reset_start(
        self, personal_number: str, method: str = "app", user_visible_data: str | None = None
    ) -> OrderStarted:
        self.calls.append(("reset", personal_number))
        return OrderStarted(order_ref="reset-1", reference="KLAR MÅNE", expires_at=int(NOW + 180))

    def reset_questions(self, order_ref: str) -> list[str]:
        return list(QUESTIONS)

    def reset_complete(self, order_ref: str, answers: list[str], new_password: str) -> CollectResponse:
        self.calls.append(("reset_complete", order_ref))
        if len(new_password) < 8:
            raise SignerError(400, "invalidParameters", "the password must have at least 8 characters")
        data = CompletionData(customer=CUSTOMER, token="jwt.fake.reset", level="reset")
        return CollectResponse(order_ref=order_ref, status="complete", hint_code=None, completion_data=data)

"""A phone client without a signer, for the screen's snapshots: fixed requests, nothing that changes."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from tillit.signer.wire import AppRequest, AppRequests, AppSettings, CollectResponse

FOREVER = 4102444800  # 2100-01-01: never expires during a test


def request(
    reference: str = "BLÅ FJORD",
    kind: str = "sign",
    text: str = "Signer låneavtale 2024-117 med Fjordbanken",
    documents: tuple[str, ...] = ("laneavtale.pdf",),
    expires_at: int = FOREVER,
    order_ref: str = "00000000-0000-4000-8000-000000000001",
    method: str = "app",
    requester: str = "Bergen sentrum",
    text_format: Literal["plaintext", "simpleMarkdownV1"] = "plaintext",
    password_by: Literal["kiosk", "phone"] = "kiosk",  # noqa: S107 (who asks it, not a password)
) -> AppRequest:
    return AppRequest(
        order_ref=order_ref,
        reference=reference,
        kind=kind,
        method=method,
        kiosk_name=requester,
        user_visible_data=text,
        user_visible_data_format=text_format,
        password_by=password_by,
        documents=[{"name": name, "sha256": "0" * 64} for name in documents],
        expires_at=expires_at,
        challenge={"orderRef": order_ref},
    )


class FakeRemote:
    """Answers the long-poll from a script of answers; when it runs out, waits for ever (like a quiet signer)."""

    def __init__(
        self,
        answers: list[AppRequests | Exception],
        repeat_last: bool = False,
        decide_error: Exception | None = None,
        settings_error: Exception | None = None,
        password_answers: list[CollectResponse] | None = None,
    ) -> None:
        self.answers = list(answers)
        self.password_answers = list(password_answers or [])
        self.repeat_last = repeat_last
        self.decide_error = decide_error
        self.settings_error = settings_error
        self.settings_sent: list[bool] = []
        self.passwords: list[tuple[str, str]] = []
        self.decisions: list[tuple[str, str, bool]] = []
        self.closed = False
        self.polls = 0

    async def requests(self, wait: float = 0) -> AppRequests:
        self.polls += 1
        if len(self.answers) > 1 or (self.answers and not self.repeat_last):
            answer = self.answers.pop(0)
        elif self.answers:
            answer = self.answers[0]
        else:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")
        if isinstance(answer, Exception):
            raise answer
        now = time.time()  # like the signer: an expired request is no longer offered
        offered = [r for r in answer.requests if r.expires_at > now]
        if not offered and answer.device_status == "active" and wait > 0:
            await asyncio.Event().wait()  # a long-poll with nothing to say waits (for ever, here)
        return AppRequests(requests=offered, device_status=answer.device_status)

    async def decide(self, request: AppRequest, decision: str, biometric: bool = False) -> dict[str, Any]:
        self.answers = [AppRequests(requests=[], device_status="active")]  # answered or ended: gone
        self.repeat_last = False
        if self.decide_error is not None:
            raise self.decide_error
        self.decisions.append((request.order_ref, decision, biometric))
        return {"orderRef": request.order_ref, "decision": decision}

    async def settings(self, *, biometric: bool) -> AppSettings:
        if self.settings_error is not None:
            raise self.settings_error
        self.settings_sent.append(biometric)
        return AppSettings(biometric=biometric)

    async def password(self, order_ref: str, password: str) -> CollectResponse:
        """The scripted answers in turn (`password_answers`), then: right."""
        self.passwords.append((order_ref, password))
        if self.password_answers:
            return self.password_answers.pop(0)
        return CollectResponse(order_ref=order_ref, status="complete")

    async def aclose(self) -> None:
        self.closed = True


class FakeClient:
    def __init__(
        self,
        *answers: AppRequests | Exception,
        repeat_last: bool = False,
        decide_error: Exception | None = None,
        settings_error: Exception | None = None,
        password_answers: list[CollectResponse] | None = None,
    ) -> None:
        self.remote = FakeRemote(list(answers), repeat_last, decide_error, settings_error, password_answers)

    def aio(self) -> FakeRemote:
        return self.remote


def pending(*requests: AppRequest) -> AppRequests:
    return AppRequests(requests=list(requests), device_status="active")


def deactivated() -> AppRequests:
    return AppRequests(requests=[], device_status="deactivated")

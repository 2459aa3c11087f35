"""Simulated kiosks and phones driving the real daemon over loopback HTTP.

One simulated customer = one kiosk connection (bearer token) and one phone connection (every
request signed with the device key, as `phone.client` signs them). An order goes:
start (POST /v1/auth or /v1/sign) -> the phone's long-poll returns the request -> approve
(device signature over the challenge) -> POST /v1/password -> POST /v1/collect -> for sign orders
GET the detached CMS signature. Each step's latency is recorded from the client's side.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from benchlib.http import Connection, HttpError
from benchlib.stats import summary_ms
from tillit.signer.wire import (
    DEVICE_HEADER,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    approval_message,
    request_message,
)

HOST = "127.0.0.1"
POLL_WAIT_S = 30
# A contract as plain text: sign orders in the pipeline are CMS (CAdES-BES detached) signatures.
DOCUMENT = ("Avtale om brukskonto mellom Tillit Bank og kunden.\n" * 80).encode()
DOCUMENT_B64 = base64.b64encode(DOCUMENT).decode()


@dataclass
class Customer:
    number: str
    password: str
    device_id: str
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Customer:
        key = serialization.load_pem_private_key(data["device_key"].encode(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cls(data["number"], data["password"], data["device_id"], key)


class Phone:
    def __init__(self, port: int, customer: Customer) -> None:
        self.customer = customer
        self.conn = Connection(HOST, port)

    def _headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        timestamp = str(int(time.time()))
        nonce = secrets.token_urlsafe(16)
        signature = self.customer.key.sign(
            request_message(method, path, body, timestamp, nonce), ec.ECDSA(hashes.SHA256())
        )
        return {
            DEVICE_HEADER: self.customer.device_id,
            TIMESTAMP_HEADER: timestamp,
            NONCE_HEADER: nonce,
            SIGNATURE_HEADER: base64.b64encode(signature).decode(),
        }

    async def poll(self, wait: float = POLL_WAIT_S) -> list[dict[str, Any]]:
        path = f"/v1/app/requests?wait={wait:g}"
        status, data = await self.conn.request("GET", path, b"", self._headers("GET", path, b""))
        if status != 200:
            raise HttpError(status, data, "phone long-poll")
        import json

        return list(json.loads(data)["requests"])

    async def decide(self, request: dict[str, Any], decision: str) -> None:
        import json

        signature = self.customer.key.sign(approval_message(request["challenge"], decision), ec.ECDSA(hashes.SHA256()))
        path = f"/v1/app/requests/{request['orderRef']}"
        body = json.dumps(
            {"decision": decision, "signature": base64.b64encode(signature).decode(), "biometric": False}
        ).encode()
        headers = self._headers("POST", path, body)
        headers["Content-Type"] = "application/json"
        status, data = await self.conn.request("POST", path, body, headers)
        if status != 200:
            raise HttpError(status, data, "phone decision")


class Kiosk:
    def __init__(self, port: int, token: str) -> None:
        self.conn = Connection(HOST, port, {"Authorization": f"Bearer {token}"})

    async def start(self, kind: str, number: str) -> dict[str, Any]:
        if kind == "auth":
            payload: dict[str, Any] = {"personalNumber": number}
        else:
            payload = {
                "personalNumber": number,
                "userVisibleData": "Avtale om brukskonto",
                "documents": [{"name": "avtale.txt", "contentType": "text/plain", "content": DOCUMENT_B64}],
            }
        return dict(await self.conn.json("POST", f"/v1/{kind}", payload, what=f"start {kind}"))

    async def password(self, ref: str, password: str) -> dict[str, Any]:
        return dict(await self.conn.json("POST", "/v1/password", {"orderRef": ref, "password": password}, "password"))

    async def collect(self, ref: str) -> dict[str, Any]:
        return dict(await self.conn.json("POST", "/v1/collect", {"orderRef": ref}, "collect"))

    async def cancel(self, ref: str) -> None:
        body = f'{{"orderRef":"{ref}"}}'.encode()
        await self.conn.request("POST", "/v1/cancel", body, {"Content-Type": "application/json"})

    async def document(self, ref: str, index: int) -> bytes:
        status, data = await self.conn.request("GET", f"/v1/orders/{ref}/documents/{index}")
        if status != 200:
            raise HttpError(status, data, "signed document")
        return data


@dataclass
class Session:
    """A simulated customer at a kiosk with their phone."""

    customer: Customer
    kiosk: Kiosk
    phone: Phone

    async def close(self) -> None:
        await self.kiosk.conn.close()
        await self.phone.conn.close()


def sessions(port: int, token: str, customers: list[Customer]) -> list[Session]:
    return [Session(c, Kiosk(port, token), Phone(port, c)) for c in customers]


def spread_sessions(ports: list[int], token: str, customers: list[Customer]) -> list[Session]:
    """The customers spread over several daemons in turn, as a load balancer that keeps each
    customer's kiosk and phone on one instance would spread them."""
    return [
        Session(c, Kiosk(ports[i % len(ports)], token), Phone(ports[i % len(ports)], c))
        for i, c in enumerate(customers)
    ]


async def wait_for(phone: Phone, poll: asyncio.Task[list[dict[str, Any]]], ref: str) -> dict[str, Any]:
    """The phone's long-polls until one returns the order `ref`."""
    while True:
        for request in await poll:
            if request["orderRef"] == ref:
                return request
        poll = asyncio.create_task(phone.poll())


async def order(session: Session, kind: str, phone_first_s: float = 0.0) -> dict[str, float]:
    """One whole order; the latency of each step in seconds. Raises on anything but success."""
    poll = asyncio.create_task(session.phone.poll())
    # The phone app is already waiting when the kiosk starts the order (its long-poll is open).
    await asyncio.sleep(phone_first_s)
    t0 = time.perf_counter()
    started = await session.kiosk.start(kind, session.customer.number)
    t_started = time.perf_counter()
    ref = started["orderRef"]
    try:
        request = await wait_for(session.phone, poll, ref)
        t_seen = time.perf_counter()
        await session.phone.decide(request, "approve")
        t_approved = time.perf_counter()
        answer = await session.kiosk.password(ref, session.customer.password)
        t_password = time.perf_counter()
        if answer.get("status") != "complete":
            raise RuntimeError(f"password answered {answer}")
        collected = await session.kiosk.collect(ref)
        t_collected = time.perf_counter()
        if collected.get("status") != "complete":
            raise RuntimeError(f"collect answered {collected}")
        steps = {
            "start": t_started - t0,
            "push": t_seen - t0,
            "approve": t_approved - t_seen,
            "password": t_password - t_approved,
            "collect": t_collected - t_password,
        }
        if kind == "sign":
            signature = await session.kiosk.document(ref, 0)
            if not signature:
                raise RuntimeError("empty signature")
            steps["fetch_signature"] = time.perf_counter() - t_collected
        steps["total"] = time.perf_counter() - t0
        return steps
    except BaseException:
        poll.cancel()
        with contextlib.suppress(HttpError, OSError, asyncio.IncompleteReadError):
            await session.kiosk.cancel(ref)
        raise


@dataclass
class PhaseResult:
    kind: str
    completed: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    seconds: float = 0.0
    steps: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def record_error(self, e: BaseException) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(f"{type(e).__name__}: {e}"[:300])

    def as_dict(self) -> dict[str, Any]:
        return {
            "orders": self.completed,
            "errors": self.errors,
            **({"error_samples": self.error_samples} if self.error_samples else {}),
            "seconds": round(self.seconds, 3),
            "orders_per_s": round(self.completed / self.seconds, 2) if self.seconds else 0.0,
            "steps_ms": {name: summary_ms(values) for name, values in self.steps.items()},
        }


async def pipeline(all_sessions: list[Session], kind: str, orders: int) -> PhaseResult:
    """Every session runs orders back to back until `orders` have been started in all."""
    result = PhaseResult(kind)
    issued = 0
    started = time.perf_counter()
    last_done = started

    async def customer_loop(session: Session) -> None:
        nonlocal issued, last_done
        while issued < orders and result.errors <= max(20, orders // 10):
            issued += 1
            try:
                steps = await order(session, kind)
            except (HttpError, RuntimeError, OSError, asyncio.IncompleteReadError, KeyError, ValueError) as e:
                result.record_error(e)
                continue
            result.completed += 1
            last_done = time.perf_counter()
            for name, value in steps.items():
                result.steps[name].append(value)

    await asyncio.gather(*(customer_loop(s) for s in all_sessions))
    result.seconds = last_done - started
    return result


async def push_latency(all_sessions: list[Session], samples: int) -> PhaseResult:
    """Order start -> the waiting phone sees it, one order at a time on an otherwise idle daemon.
    The phone declines each request so that the customer has no open order for the next one."""
    result = PhaseResult("push")
    started = time.perf_counter()
    for i in range(samples):
        session = all_sessions[i % len(all_sessions)]
        poll = asyncio.create_task(session.phone.poll())
        await asyncio.sleep(0.01)  # the client's own wait: the phone's long-poll is open first
        t0 = time.perf_counter()
        try:
            ref = (await session.kiosk.start("auth", session.customer.number))["orderRef"]
            request = await wait_for(session.phone, poll, ref)
            result.steps["push"].append(time.perf_counter() - t0)
            await session.phone.decide(request, "decline")
            result.completed += 1
        except (HttpError, RuntimeError, OSError, asyncio.IncompleteReadError, KeyError) as e:
            poll.cancel()
            result.record_error(e)
    result.seconds = time.perf_counter() - started
    return result


async def first_orders(all_sessions: list[Session]) -> PhaseResult:
    """One sign order per customer, one after another (the scale measurement after a restart)."""
    result = PhaseResult("sign")
    started = time.perf_counter()
    for session in all_sessions:
        try:
            steps = await order(session, "sign", phone_first_s=0.005)
        except (HttpError, RuntimeError, OSError, asyncio.IncompleteReadError, KeyError) as e:
            result.record_error(e)
            continue
        result.completed += 1
        for name, value in steps.items():
            result.steps[name].append(value)
    result.seconds = time.perf_counter() - started
    return result

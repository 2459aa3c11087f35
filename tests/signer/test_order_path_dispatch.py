"""`signer.order_path.OrderPath` takes only the requests it can answer exactly as FastAPI would.

Driven as plain ASGI with a recording app standing where FastAPI's stack stands, so that each
case shows which side answered and what it received. The daemon-level agreement of the two sides
is in tests/integration/test_order_path.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import BaseModel
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from tillit.hsm.errors import HsmError
from tillit.signer import errors
from tillit.signer.http.order_path import Call, FastRoute, OrderPath
from tillit.signer.store.records import Kiosk


class Body(BaseModel):
    orderRef: str


class Downstream:
    """Where FastAPI's stack would be: records what reached it and answers 299."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        self.seen.append((scope["path"], message.get("body", b"")))
        await Response(b"fastapi", status_code=299)(scope, receive, send)


KIOSK = Kiosk(id="k1", name="Filial", token_hash="x", status="active", created_at=0.0, role="kiosk")


async def kiosk_for(authorization: str | None) -> Kiosk:
    if authorization != "Bearer good":
        raise errors.Unauthorized("a bearer token is required")
    return KIOSK


def refusal(exc: errors.SignerError | HsmError) -> Response:
    assert isinstance(exc, errors.SignerError)
    return JSONResponse({"error": exc.code, "reason": exc.reason}, status_code=exc.status)


async def collect(call: Call) -> Response | None:
    body = call.json(Body)
    if body is None:
        return None
    kiosk = await call.kiosk()
    if body.orderRef == "gone":
        raise errors.NotFound("no such order")
    return JSONResponse({"orderRef": body.orderRef, "kiosk": kiosk.id})


async def document(call: Call) -> Response | None:
    return Response(json.dumps(call.params).encode())


async def long_poll(call: Call) -> Response | None:
    wait = call.wait_seconds(60)
    return None if wait is None else Response(str(wait).encode())


ROUTES = [
    FastRoute("POST", "/v1/collect", collect),
    FastRoute("GET", "/v1/orders/{order_ref}/documents/{index}", document),
    FastRoute("GET", "/v1/app/requests", long_poll),
]


def run(
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    query: bytes = b"",
) -> tuple[int, bytes, Downstream, Scope]:
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    downstream = Downstream()
    app = OrderPath(downstream, kiosk_for=kiosk_for, refusal=refusal, routes=ROUTES)
    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": [(k.lower().encode(), v.encode()) for k, v in pairs],
    }
    sent: list[Message] = []
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if delivered:
            await asyncio.sleep(3600)
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, content, downstream, scope


JSON = {"Content-Type": "application/json", "Authorization": "Bearer good"}


def test_a_well_formed_request_is_answered_on_the_order_path_with_its_route_as_the_metric_label() -> None:
    status, content, downstream, scope = run("POST", "/v1/collect", b'{"orderRef":"r1"}', JSON)
    assert (status, json.loads(content)) == (200, {"orderRef": "r1", "kiosk": "k1"})
    assert downstream.seen == []
    assert scope["route"].path == "/v1/collect"


def test_a_charset_parameter_still_counts_as_json() -> None:
    headers = {**JSON, "Content-Type": "Application/JSON; charset=utf-8"}
    status, _, downstream, _ = run("POST", "/v1/collect", b'{"orderRef":"r1"}', headers)
    assert status == 200 and downstream.seen == []


def test_what_the_model_refuses_goes_to_fastapi_with_the_body_intact() -> None:
    for body in (b'{"orderRef": 7}', b"{not json", b"", b'{"other":"x"}'):
        status, content, downstream, _ = run("POST", "/v1/collect", body, JSON)
        assert (status, content) == (299, b"fastapi")
        assert downstream.seen == [("/v1/collect", body)]


def test_another_media_type_goes_to_fastapi() -> None:
    for content_type in ("text/plain", "application/vnd.tillit+json", "application/jsonx"):
        headers = {**JSON, "Content-Type": content_type}
        status, _, downstream, _ = run("POST", "/v1/collect", b'{"orderRef":"r1"}', headers)
        assert status == 299 and downstream.seen == [("/v1/collect", b'{"orderRef":"r1"}')]
    status, _, downstream, _ = run("POST", "/v1/collect", b'{"orderRef":"r1"}', {"Authorization": "Bearer good"})
    assert status == 299, "no Content-Type at all is FastAPI's to answer"


def test_a_repeated_header_is_read_by_its_first_value_as_fastapi_reads_it() -> None:
    headers = [("content-type", "application/json"), ("authorization", "Bearer good"), ("authorization", "Bearer bad")]
    assert run("POST", "/v1/collect", b'{"orderRef":"r1"}', headers)[0] == 200
    headers = [("content-type", "application/json"), ("authorization", "Bearer bad"), ("authorization", "Bearer good")]
    assert run("POST", "/v1/collect", b'{"orderRef":"r1"}', headers)[0] == 401
    headers = [("content-type", "text/plain"), ("content-type", "application/json"), ("authorization", "Bearer good")]
    assert run("POST", "/v1/collect", b'{"orderRef":"r1"}', headers)[0] == 299


def test_a_refusal_raised_on_the_order_path_is_answered_by_the_refusal_handler() -> None:
    status, content, downstream, _ = run("POST", "/v1/collect", b'{"orderRef":"gone"}', JSON)
    assert (status, json.loads(content)["error"]) == (404, "notFound")
    headers = {**JSON, "Authorization": "Bearer bad"}
    status, content, downstream, _ = run("POST", "/v1/collect", b'{"orderRef":"r1"}', headers)
    assert (status, json.loads(content)["error"]) == (401, "unauthorized")
    assert downstream.seen == []


def test_other_methods_paths_and_escaped_paths_go_to_fastapi() -> None:
    cases = [
        ("GET", "/v1/collect"),
        ("POST", "/v1/collect/extra"),
        ("POST", "/v1/cancel"),
        ("GET", "/v1/orders/r1/documents"),
        ("GET", "/v1/orders//documents/0"),
        ("GET", "/v1/orders/a?b/documents/0"),  # an escaped "?" in the request line
        ("GET", "/v1/orders/a\\b/documents/0"),
        ("GET", "/v1/orders/ø/documents/0"),
    ]
    for method, path in cases:
        status, _, downstream, _ = run(method, path, b"", JSON)
        assert status == 299, (method, path)
        assert downstream.seen == [(path, b"")]


def test_path_parameters_reach_the_handler_by_name() -> None:
    status, content, _, scope = run("GET", "/v1/orders/r-1/documents/0")
    assert (status, json.loads(content)) == (200, {"order_ref": "r-1", "index": "0"})
    assert scope["route"].path == "/v1/orders/{order_ref}/documents/{index}"


def test_only_a_plain_bounded_wait_is_taken_on_the_order_path() -> None:
    for query, answer in ((b"", b"0.0"), (b"wait=30", b"30.0"), (b"wait=0.5", b"0.5"), (b"wait=60", b"60.0")):
        assert run("GET", "/v1/app/requests", query=query)[:2] == (200, answer), query
    for query in (b"wait=61", b"wait=-1", b"wait=1e3", b"wait=nan", b"wait=30&x=1", b"x=1", b"wait=", b"wait=%33"):
        status, _, downstream, _ = run("GET", "/v1/app/requests", query=query)
        assert status == 299 and len(downstream.seen) == 1, query

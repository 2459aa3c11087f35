"""Every request body bounded by its route's limit before anything reads it: the daemon's front door.

`BodyLimits` is plain ASGI in front of everything else (the order path, then FastAPI). It finds the
route a request is for in FastAPI's own route table (`RouteRules.of`) and applies that route's
rule before any byte of the body is read:

- a Content-Length over the route's limit is answered 413 from the header alone;
- on a route whose credential is a bearer token in the headers, the token is checked first when
  it is missing or when the body is chunked or larger than what uvicorn holds anyway (64 KiB),
  so that an unauthenticated client cannot make the daemon read a large body (401);
- the body is then read here, up to the limit and by its deadline (`BodyDeadline`: a few seconds,
  and more as bytes arrive), and handed on as read: 413 as soon as a chunked body grows past the
  limit, 408 when the body has not all arrived in time (a client trickling bodies would otherwise
  hold a connection and a request for as long as it likes);
- a response that leaves part of the body unread carries `Connection: close`, so that uvicorn
  drops the connection instead of reading (and discarding) what the client still sends.

A route's limit is the one its endpoint declares with `body_limit`; else the JSON limit for a
POST, PUT or PATCH route; else 0: a GET, HEAD or DELETE route accepts no body. The limit is left in the
scope (`BODY_LIMIT`) for the layers behind that read bodies themselves (`signer.http.order_path`).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tillit.hsm.errors import HsmError
from tillit.signer import errors
from tillit.signer.settings import SignerSettings

# The scope key under which the front door leaves the route's body limit for the layers behind it.
BODY_LIMIT = "tillit.body_limit"

# uvicorn holds up to this much of a body that nobody reads (then stops reading the socket):
# a body this small costs nothing more when it is read before its token is checked.
EARLY_BODY_BYTES = 65536

_LIMIT_ATTRIBUTE = "__tillit_body_limit__"

# The methods whose routes take a body (of at most the JSON limit) unless they declare another limit.
_BODY_METHODS = {"POST", "PUT", "PATCH"}

F = TypeVar("F", bound=Callable[..., Any])

# Checks the Authorization header's value; raises the refusal (SignerError or HsmError).
CredentialCheck = Callable[[str | None], Awaitable[object]]

# A limit that is a setting: read from the daemon's settings when the route table is read.
SettingLimit = Callable[[SignerSettings], int]


def body_limit(limit: int | SettingLimit) -> Callable[[F], F]:
    """Declare the largest body (bytes) an endpoint takes, or the setting that says it; below the
    route decorator:

    @router.post("/v1/ocsp")
    @body_limit(lambda settings: settings.ocsp_max_request_bytes)
    async def ocsp(request: Request) -> Response: ...
    """

    def declare(endpoint: F) -> F:
        setattr(endpoint, _LIMIT_ATTRIBUTE, limit)
        return endpoint

    return declare


@dataclass(frozen=True)
class BodyRule:
    """What the front door applies to one route's requests."""

    route: BaseRoute
    limit: int
    credential: CredentialCheck | None = None
    order: int = 0  # the route's place in the route table: the first that matches is FastAPI's


class RouteRules:
    """The rule of every route in FastAPI's route table, found by method and path."""

    def __init__(
        self, static: dict[tuple[str, str], BodyRule], templated: list[tuple[re.Pattern[str], set[str], BodyRule]]
    ):
        self._static = static
        self._templated = templated

    @classmethod
    def of(
        cls,
        routes: Iterable[BaseRoute],
        settings: SignerSettings,
        credentials: Mapping[Callable[..., Any], CredentialCheck],
    ) -> RouteRules:
        """Rules for `routes` (FastAPI's `app.routes`): the endpoint's `body_limit`, else the JSON limit
        of `settings` for a POST, PUT or PATCH route, else 0. `credentials` maps a dependency (the
        kiosk's token, say) to the check the front door runs on the Authorization header for the
        routes using it."""
        static: dict[tuple[str, str], BodyRule] = {}
        templated: list[tuple[re.Pattern[str], set[str], BodyRule]] = []
        for order, route in enumerate(routes):
            path = getattr(route, "path", None)
            regex = getattr(route, "path_regex", None)
            methods = getattr(route, "methods", None)
            if path is None or regex is None or not methods:
                continue  # not an HTTP route with a path (a websocket or a mount): no body taken
            declared = getattr(getattr(route, "endpoint", None), _LIMIT_ATTRIBUTE, None)
            credential = None
            if declared is not None:
                limit = declared(settings) if callable(declared) else int(declared)
            elif _BODY_METHODS & set(methods):
                limit = settings.max_json_body_bytes
            else:
                limit = 0
            if isinstance(route, APIRoute):
                credential = _credential_of(route.dependant, credentials)
            rule = BodyRule(route, limit, credential, order)
            if "{" in path:
                templated.append((regex, set(methods), rule))
            else:
                for method in methods:
                    static.setdefault((method, path), rule)
        return cls(static, templated)

    def find(self, method: str, path: str) -> BodyRule | None:
        """The rule of the route FastAPI would run for `method` and `path`, or None (404 or 405)."""
        rule = self._static.get((method, path))
        for regex, methods, candidate in self._templated:
            if rule is not None and candidate.order > rule.order:
                break
            if method in methods and regex.match(path):
                return candidate
        return rule


def _credential_of(
    dependant: Dependant, credentials: Mapping[Callable[..., Any], CredentialCheck]
) -> CredentialCheck | None:
    for dependency in dependant.dependencies:
        if dependency.call is not None and dependency.call in credentials:
            return credentials[dependency.call]
        found = _credential_of(dependency, credentials)
        if found is not None:
            return found
    return None


def _too_large(limit: int) -> errors.TooLarge:
    if limit == 0:
        return errors.TooLarge("this request takes no body")
    return errors.TooLarge(f"the body is larger than {limit} bytes")


class BodyLimits:
    """The front door (see the module docstring). `observe(scope, status, seconds)` is told every
    request's outcome (the latency metric), refusals here included."""

    def __init__(
        self,
        app: ASGIApp,
        rules: RouteRules,
        refusal: Callable[[errors.SignerError | HsmError], Response],
        observe: Callable[[Scope, int, float], None],
        body_deadline: BodyDeadline,
    ) -> None:
        self.app = app
        self.rules = rules
        self.refusal = refusal
        self.observe = observe
        self.body_deadline = body_deadline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rule = self.rules.find(scope["method"], scope["path"])
        length: bytes | None = None
        chunked = False
        authorization: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = length or value
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"authorization":
                authorization = authorization or value
        # Whether the client may still be sending a body nobody has read: then the answer closes.
        unread = chunked or (length is not None and length != b"0")
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if unread:
                    message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
            await send(message)

        refused: Response | None = None
        limit = rule.limit if rule is not None else 0
        size = 0
        if length is not None and not chunked:
            if not length.isdigit():
                refused = _error(400, "invalidParameters", "bad Content-Length")
            elif len(length) > 18 or int(length) > limit:
                refused = self.refusal(_too_large(limit)) if rule is not None else None
            else:
                size = int(length)
        credential = rule.credential if rule is not None and refused is None else None
        if credential is not None and (
            chunked or size > EARLY_BODY_BYTES or not (authorization or b"").startswith(b"Bearer ")
        ):
            try:
                await credential(authorization.decode("latin-1") if authorization is not None else None)
            except (errors.SignerError, HsmError) as e:
                refused = self.refusal(e)
        if refused is None and unread and rule is not None:
            try:
                buffered = await read_body_within(receive, limit, self.body_deadline)
            except errors.RequestTimeout as e:
                refused = self.refusal(e)
            else:
                if buffered is None:
                    refused = self.refusal(_too_large(limit))
                else:
                    unread = False
                    receive = replay_body(buffered, receive)
        if refused is not None:
            if rule is not None:
                scope["route"] = rule.route  # the latency metric's label
            await refused(scope, receive, send_status)
        else:
            scope[BODY_LIMIT] = limit
            await self.app(scope, receive, send_status)
        self.observe(scope, status, time.perf_counter() - started)


def _error(status: int, code: str, reason: str) -> JSONResponse:
    return JSONResponse({"error": code, "reason": reason}, status_code=status)


async def read_body(receive: Receive, limit: int | None = None) -> bytes | None:
    """The whole request body, or None as soon as it grows past `limit` bytes (nothing past the
    limit is kept: the chunk that crosses it is dropped with the rest)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away; the handler sees an empty body
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


@dataclass(frozen=True)
class BodyDeadline:
    """How long a request's body may take to arrive: `seconds`, plus 1 s for every
    `bytes_per_second` bytes that have arrived (the settings `request_body_seconds` and
    `request_body_bytes_per_second`)."""

    seconds: float
    bytes_per_second: int

    @classmethod
    def of(cls, settings: SignerSettings) -> BodyDeadline:
        return cls(settings.request_body_seconds, settings.request_body_bytes_per_second)


async def read_body_within(receive: Receive, limit: int | None, deadline: BodyDeadline) -> bytes | None:
    """`read_body` by `deadline`, else `errors.RequestTimeout` (408). A body that uvicorn already
    holds whole (most are) is read without waiting."""
    loop = asyncio.get_running_loop()
    due = loop.time() + deadline.seconds
    try:
        async with asyncio.timeout_at(due) as timeout:

            async def timed() -> Message:
                nonlocal due
                message = await receive()
                due += len(message.get("body", b"")) / deadline.bytes_per_second
                timeout.reschedule(due)
                return message

            return await read_body(timed, limit)
    except TimeoutError:
        raise errors.RequestTimeout(
            f"the request body did not all arrive in time ({deadline.seconds:g} s, "
            f"and 1 s more for every {deadline.bytes_per_second} bytes received)"
        ) from None


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands out an already read body once, then waits on the real one
    (for the disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


__all__ = [
    "BODY_LIMIT",
    "BodyDeadline",
    "BodyLimits",
    "BodyRule",
    "CredentialCheck",
    "RouteRules",
    "SettingLimit",
    "body_limit",
    "read_body",
    "read_body_within",
    "replay_body",
]

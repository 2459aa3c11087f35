"""The requests every order makes, answered without FastAPI's router and dependency solver.

An order is five or six requests (start, the phone's long-poll, its decision, the password,
collect, and for a sign order the signature). On the bench, FastAPI's middleware, routing and
dependency machinery around them took about 40% of the daemon's Python time, more than the
handlers themselves. Here a well-formed request on one of those routes goes straight to the same
endpoint function FastAPI would call; a request that is not plainly well-formed (another content
type, a body or parameter its model refuses, an escaped path) goes on to FastAPI untouched, so
every refusal keeps FastAPI's answer and the OpenAPI document still describes these routes.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tillit.hsm.errors import HsmError
from tillit.signer import errors
from tillit.signer.http_limits import BODY_LIMIT, read_body, replay_body
from tillit.signer.store import Kiosk

M = TypeVar("M", bound=BaseModel)

# Paths and queries that read the same as raw ASGI and through Starlette's URL (which escapes
# "?", "#" and "\\" and would make a phone's signed path differ): anything else goes to FastAPI.
_PLAIN = re.compile(r"[A-Za-z0-9/_.~=&+:,-]*")
_BOUNDED_NUMBER = re.compile(r"[0-9]{1,2}(\.[0-9]{1,3})?")


@dataclass(frozen=True)
class SignedCall:
    """A phone's request as its signature covers it: method, path?query, body, headers."""

    method: str
    path: str
    body: bytes
    headers: dict[str, str]

    @classmethod
    async def of(cls, request: Request) -> SignedCall:
        """The call as signed. The signature covers the body, so the body is read before anything
        is checked: the front door (`signer.http_limits`) has bounded it by the route's limit."""
        body = await request.body()
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return cls(request.method, path, body, {k.lower(): v for k, v in request.headers.items()})


@dataclass
class Call:
    """One request on the order path, its body read."""

    scope: Scope
    body: bytes
    params: dict[str, str]
    kiosk_for: Callable[[str | None], Awaitable[Kiosk]]

    def header(self, name: bytes) -> str | None:
        """The first value, as FastAPI's `Header()` parameters and Starlette's `headers.get` read it."""
        for key, value in self.scope["headers"]:
            if key == name:
                return str(value.decode("latin-1"))
        return None

    def json(self, model: type[M]) -> M | None:
        """The body as `model`, or None when FastAPI should answer (and word the refusal)."""
        content_type = self.header(b"content-type")
        if content_type is None or content_type.partition(";")[0].strip().lower() != "application/json":
            return None
        try:
            return model.model_validate_json(self.body)
        except ValidationError:
            return None

    def query(self) -> str:
        return str(self.scope["query_string"].decode("latin-1"))

    async def kiosk(self) -> Kiosk:
        return await self.kiosk_for(self.header(b"authorization"))

    def signed(self) -> SignedCall:
        query = self.query()
        path = self.scope["path"] + (f"?{query}" if query else "")
        # The last value of a repeated header, as `SignedCall.of` gets it from Starlette's items().
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in self.scope["headers"]}
        return SignedCall(self.scope["method"], path, self.body, headers)

    def wait_seconds(self, limit: float) -> float | None:
        """`?wait=N` (0 <= N <= limit, plain decimal) or no query; None for anything else."""
        query = self.query()
        if not query:
            return 0.0
        name, _, value = query.partition("=")
        if name != "wait" or not _BOUNDED_NUMBER.fullmatch(value) or float(value) > limit:
            return None
        return float(value)


Handler = Callable[[Call], Awaitable[Response | None]]


@dataclass(frozen=True)
class FastRoute:
    """A route of the order path. `path` is FastAPI's template, also the latency metric's label."""

    method: str
    path: str
    handler: Handler
    segments: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.path.split("/")))

    def match(self, method: str, parts: list[str]) -> dict[str, str] | None:
        if method != self.method or len(parts) != len(self.segments):
            return None
        params = {}
        for want, got in zip(self.segments, parts, strict=True):
            if want.startswith("{"):
                if not got:
                    return None
                params[want[1:-1]] = got
            elif want != got:
                return None
        return params


class OrderPath:
    """ASGI middleware in front of FastAPI's own stack for the routes registered on it.

    A handler returns the response, or None to let FastAPI answer the request instead. Refusals
    raised by a handler are answered by `refusal`, as FastAPI's exception handlers would. Bodies are
    read up to the route's limit the front door (`signer.http_limits.BodyLimits`) left in the scope,
    taken from the same FastAPI route; 413 past it.
    """

    def __init__(
        self,
        app: ASGIApp,
        kiosk_for: Callable[[str | None], Awaitable[Kiosk]],
        refusal: Callable[[errors.SignerError | HsmError], Response],
        routes: list[FastRoute],
    ) -> None:
        self.app = app
        self.kiosk_for = kiosk_for
        self.refusal = refusal
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _PLAIN.fullmatch(scope["path"]):
            await self.app(scope, receive, send)
            return
        parts = scope["path"].split("/")
        for route in self.routes:
            params = route.match(scope["method"], parts)
            if params is not None:
                break
        else:
            await self.app(scope, receive, send)
            return
        # The front door (`signer.http_limits`) checked the length and left the route's limit here.
        limit = scope.get(BODY_LIMIT)
        body = await read_body(receive, limit)
        if body is None:
            too_large = errors.TooLarge(f"the body is larger than {limit} bytes")
            await self.refusal(too_large)(scope, receive, send)
            return
        call = Call(scope, body, params, self.kiosk_for)
        if not _PLAIN.fullmatch(call.query()):
            response = None
        else:
            try:
                response = await route.handler(call)
            except (errors.SignerError, HsmError) as e:
                response = self.refusal(e)
        if response is None:
            await self.app(scope, replay_body(body, receive), send)
            return
        scope["route"] = route
        await response(scope, receive, send)


def route(method: str, path: str) -> Callable[[Handler], FastRoute]:
    """`@route("POST", "/v1/collect")` over a handler makes it a FastRoute."""

    def make(handler: Handler) -> FastRoute:
        return FastRoute(method, path, handler)

    return make


__all__ = ["Call", "FastRoute", "Handler", "OrderPath", "SignedCall", "read_body", "replay_body", "route"]

"""The requests every order makes, answered without FastAPI's router and dependency solver.

An order is five or six requests (start, the phone's long-poll, its decision, the password,
collect, and for a sign order the signature). On the bench, FastAPI's middleware, routing and
dependency machinery around them took about 40% of the daemon's Python time, more than the
handlers themselves. Here a well-formed request on one of those routes goes straight to the same
endpoint function FastAPI would call; a request that is not plainly well-formed (another content
type, a body or parameter its model refuses, an escaped path) goes on to FastAPI untouched, so
every refusal keeps FastAPI's answer and the OpenAPI document still describes these routes.

There is one route table: FastAPI's. An endpoint marked `on_order_path` is found in `app.routes`
(`order_routes`) and called with the arguments FastAPI would give it, read from its `Dependant`: the
path parameters, the JSON body as its model, and each dependency from the `Provider` given for that
dependency's function (the kiosk's bearer token, the phone's signed request...).
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tillit.hsm.errors import HsmError
from tillit.signer import errors
from tillit.signer.http.middleware import BODY_LIMIT, read_body, replay_body
from tillit.signer.store.records import Kiosk

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
        is checked: the front door (`signer.http.middleware`) has bounded it by the route's limit."""
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
    read up to the route's limit the front door (`signer.http.middleware.BodyLimits`) left in the scope,
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
        # The front door (`signer.http.middleware`) checked the length and left the route's limit here.
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


class NotPlain(Exception):
    """Raised by a `Provider`: the request is not plainly well-formed, FastAPI answers it."""


# Supplies one dependency's value on the order path, as FastAPI's solver would; raises the refusal
# FastAPI's dependency would raise, or `NotPlain`.
Provider = Callable[[Call], Awaitable[Any]]

_ON_ORDER_PATH = "__tillit_order_path__"
E = TypeVar("E", bound=Callable[..., Awaitable[Response]])


def on_order_path(endpoint: E) -> E:
    """Mark an endpoint to be answered on the order path too; below the route decorator. It must be a
    coroutine returning a `Response`, taking path parameters (str or int), at most one JSON body
    model, and dependencies the order path has a `Provider` for."""
    setattr(endpoint, _ON_ORDER_PATH, True)
    return endpoint


def order_routes(routes: Iterable[Any], providers: Mapping[Callable[..., Any], Provider]) -> list[FastRoute]:
    """The order path's routes: each route of FastAPI's table (`app.routes`) whose endpoint is
    marked `on_order_path`, answered by calling that endpoint (`endpoint_handler`)."""
    found: list[FastRoute] = []
    for route in routes:
        if isinstance(route, APIRoute) and getattr(route.endpoint, _ON_ORDER_PATH, False):
            handler = endpoint_handler(route, providers)
            found.extend(FastRoute(method, route.path, handler) for method in sorted(route.methods or ()))
    return found


def _plain_int(text: str) -> int:
    # Digits only, and few: anything else (signs, spaces, huge numbers) is FastAPI's to read.
    if not (text.isascii() and text.isdigit() and len(text) <= 4):
        raise NotPlain
    return int(text)


_PATH_CONVERSIONS: dict[Any, Callable[[str], Any]] = {str: str, int: _plain_int}


def endpoint_handler(route: APIRoute, providers: Mapping[Callable[..., Any], Provider]) -> Handler:
    """A handler that calls `route`'s endpoint with the arguments FastAPI would pass it, or answers
    None (FastAPI's turn) when the request is not plainly well-formed: a query parameter that no
    provider reads, a path parameter that is not plain, a body its model refuses. Raises ValueError
    for an endpoint that takes anything else (headers, cookies, the Request itself...)."""
    endpoint = route.endpoint
    dependant = route.dependant
    where = f"{sorted(route.methods or ())} {route.path}"
    if not inspect.iscoroutinefunction(endpoint):
        raise ValueError(f"{where}: the order path calls coroutine endpoints only")
    answer_type = typing.get_type_hints(endpoint).get("return")
    if not (isinstance(answer_type, type) and issubclass(answer_type, Response)):
        raise ValueError(f"{where}: the order path needs an endpoint that returns a Response")
    if dependant.query_params or dependant.header_params or dependant.cookie_params or dependant.request_param_name:
        raise ValueError(f"{where}: the order path reads only path parameters, a body and dependencies")
    conversions = {}
    for param in dependant.path_params:
        conversion = _PATH_CONVERSIONS.get(param.field_info.annotation)
        if conversion is None:
            raise ValueError(f"{where}: path parameter {param.name} is neither str nor int")
        conversions[param.name] = conversion
    body_name: str | None = None
    body_model: type[BaseModel] | None = None
    if len(dependant.body_params) > 1:
        raise ValueError(f"{where}: the order path reads one body model at most")
    for param in dependant.body_params:
        model = param.field_info.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise ValueError(f"{where}: the body {param.name} is not a pydantic model")
        body_name, body_model = param.name, model
    suppliers = {}
    for dependency in dependant.dependencies:
        provider = providers.get(dependency.call) if dependency.call is not None else None
        if provider is None or dependency.name is None:
            raise ValueError(f"{where}: no order path provider for the dependency {dependency.name}")
        suppliers[dependency.name] = provider
    # Any query parameter is read by a dependency's provider; a route whose providers read none takes none.
    takes_query = any(dependency.query_params for dependency in dependant.dependencies)

    async def handle(call: Call) -> Response | None:
        if call.query() and not takes_query:
            return None
        try:
            arguments = {name: convert(call.params[name]) for name, convert in conversions.items()}
            if body_model is not None and body_name is not None:
                body = call.json(body_model)
                if body is None:
                    return None
                arguments[body_name] = body
            for name, provider in suppliers.items():
                arguments[name] = await provider(call)
        except NotPlain:
            return None
        answer: Response = await endpoint(**arguments)
        return answer

    return handle


__all__ = [
    "Call",
    "FastRoute",
    "Handler",
    "NotPlain",
    "OrderPath",
    "Provider",
    "SignedCall",
    "endpoint_handler",
    "on_order_path",
    "order_routes",
    "read_body",
    "replay_body",
]

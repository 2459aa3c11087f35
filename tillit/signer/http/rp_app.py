"""The ASGI app of the BankID RP API face (`routers.rp`), apart from the daemon's main app: it is
served on its own TLS port with client certificates (`signer.http.rp_server`), and answers every
refusal as BankID does, {"errorCode", "details"} with BankID's statuses (docs/rp-api.md):

- 400 invalidParameters (a body the face cannot take, no such order) or alreadyInProgress;
- 401 unauthorized (no client certificate of a relying party, or a revoked one's), 403 likewise;
- 404 notFound (no such path), 405 methodNotAllowed, 408 requestTimeout (the body did not all
  arrive in time: `TimelyBodies`), 415 unsupportedMediaType;
- 500 internalError; 503 maintenance (the HSM away, the store unavailable, a rate limit: try later).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from tillit.hsm.errors import HsmError
from tillit.signer.errors import RequestTimeout, SignerError
from tillit.signer.http.errors import validation_reason
from tillit.signer.http.middleware import BodyDeadline, read_body_within, replay_body
from tillit.signer.http.routers import rp
from tillit.signer.service import Signer

_HTTP_CODES = {404: "notFound", 405: "methodNotAllowed", 415: "unsupportedMediaType"}
# The codes a refusal keeps on this face with their status; every other 4xx is invalidParameters.
_KEPT_CODES = {"alreadyInProgress": 400, "unauthorized": 401, "unsupportedMediaType": 415}


def rp_error(status: int, code: str, details: str) -> JSONResponse:
    return JSONResponse({"errorCode": code, "details": details}, status_code=status)


async def refused(request: Request, exc: SignerError) -> JSONResponse:
    if exc.code in _KEPT_CODES:
        return rp_error(_KEPT_CODES[exc.code], exc.code, exc.reason)
    if exc.status in (401, 403):
        return rp_error(exc.status, "unauthorized", exc.reason)
    if exc.status in (429, 503):
        response = rp_error(503, "maintenance", exc.reason)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        return response
    return rp_error(400, "invalidParameters", exc.reason)


async def hsm_away(request: Request, exc: HsmError) -> JSONResponse:
    request.app.state.signer.metrics.hsm_errors.inc()
    return rp_error(503, "maintenance", f"the HSM is not available: {exc}")


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, "invalidParameters")
    status = exc.status_code if exc.status_code in _HTTP_CODES else 400
    return rp_error(status, code, str(exc.detail) if exc.detail else code)


async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    return rp_error(400, "invalidParameters", validation_reason(exc))


async def internal(request: Request, exc: Exception) -> JSONResponse:
    logging.getLogger("tillit.rp").error("RP API request failed: %s", type(exc).__name__, exc_info=exc)
    return rp_error(500, "internalError", "internal error")


class TimelyBodies:
    """Every request body read before the face's routes see it, up to `limit` bytes and by its
    `deadline`: a body still incomplete then is answered 408 requestTimeout and the connection
    closed, as BankID does. A body declared larger than `limit` is left to the route, which refuses
    it from its Content-Length (400)."""

    def __init__(self, app: ASGIApp, deadline: BodyDeadline, limit: int) -> None:
        self.app = app
        self.deadline = deadline
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = next((value for name, value in scope["headers"] if name == b"content-length"), None)
        chunked = any(name == b"transfer-encoding" for name, _ in scope["headers"])
        declared = int(length) if length is not None and length.isdigit() and len(length) < 19 else None
        if not chunked and (declared is None or declared == 0 or declared > self.limit):
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body_within(receive, self.limit, self.deadline)
        except RequestTimeout as e:
            refused = rp_error(408, "requestTimeout", e.reason)
        else:
            if body is not None:
                await self.app(scope, replay_body(body, receive), send)
                return
            refused = rp_error(400, "invalidParameters", f"the body is larger than {self.limit} bytes")
        refused.headers["Connection"] = "close"  # the rest of the body is not read
        await refused(scope, receive, send)


class RpApp(FastAPI):
    def openapi(self) -> dict[str, Any]:
        """FastAPI's document without its 422: a body this face cannot take is 400 invalidParameters."""
        if self.openapi_schema is None:
            document = super().openapi()
            for path_item in document.get("paths", {}).values():
                for operation in path_item.values():
                    operation.get("responses", {}).pop("422", None)
            for unused in ("HTTPValidationError", "ValidationError"):
                document.get("components", {}).get("schemas", {}).pop(unused, None)
            self.openapi_schema = document
        return self.openapi_schema


def create_rp_app(signer: Signer) -> FastAPI:
    """The RP face's app over `signer` (the daemon's one `Signer`, shared with the main app)."""
    app = RpApp(
        title="Tillit: the BankID RP API v6.0 face",
        version="6.0",
        description="BankID's relying-party API over TLS with client certificates (docs/rp-api.md).",
        openapi_url=f"{rp.PREFIX}/openapi.json",
        redirect_slashes=False,  # no redirect built from the client's Host header (as the main app)
        docs_url=None,
        redoc_url=None,
        exception_handlers={
            SignerError: refused,
            HsmError: hsm_away,
            StarletteHTTPException: http_error,
            RequestValidationError: invalid,
            Exception: internal,
        },
    )
    app.state.signer = signer
    app.include_router(rp.router)
    app.add_middleware(TimelyBodies, deadline=BodyDeadline.of(signer.settings), limit=rp.RP_BODY_BYTES)
    return app

"""The ASGI app of the BankID RP API face (`routers.rp`), apart from the daemon's main app: it is
served on its own TLS port with client certificates (`signer.http.rp_server`), and answers every
refusal as BankID does, {"errorCode", "details"} with BankID's statuses (docs/rp-api.md):

- 400 invalidParameters (a body the face cannot take, no such order) or alreadyInProgress;
- 401 unauthorized (no client certificate of a relying party, or a revoked one's), 403 likewise;
- 404 notFound (no such path), 405 methodNotAllowed, 415 unsupportedMediaType;
- 500 internalError; 503 maintenance (the HSM away, the store unavailable, a rate limit: try later).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tillit.hsm.errors import HsmError
from tillit.signer.errors import SignerError
from tillit.signer.http.errors import validation_reason
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
    return app

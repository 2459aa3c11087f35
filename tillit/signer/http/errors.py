"""Every refusal answered as {"error": code, "reason": text} (and the fields a refusal adds: a deactivated
device's `deactivatedReason`): the domain's, the HSM's and FastAPI's own."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tillit.hsm.errors import HsmError, LedgerUnavailable
from tillit.signer.errors import SignerError
from tillit.signer.http.deps import get_signer
from tillit.signer.metrics import Metrics

# The error codes of the framework's own refusals (before a handler runs: unknown route, body that
# is not JSON at all), so that every error body has the same {error, reason} shape.
_HTTP_ERROR_CODES = {400: "invalidParameters", 404: "notFound", 405: "methodNotAllowed", 413: "tooLarge"}
_HTTP_ERROR_REASONS = {"There was an error parsing the body": "the body is not valid JSON in UTF-8"}


def error(status: int, code: str, reason: str, fields: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "reason": reason, **(fields or {})}, status_code=status)


def validation_reason(exc: RequestValidationError | ValidationError) -> str:
    """The first few of a model's complaints, in one line, or that the body is not JSON."""
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        if err.get("type") == "json_invalid":
            return "the body is not valid JSON"
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def refusal(metrics: Metrics, exc: SignerError | HsmError) -> JSONResponse:
    """The answer to a refusal, on FastAPI's routes, the order path and the front door alike."""
    if isinstance(exc, LedgerUnavailable):  # the database, not the HSM: the store's own answer
        return error(503, "unavailable", str(exc))
    if isinstance(exc, HsmError):
        metrics.hsm_errors.inc()
        return error(503, "hsmUnavailable", f"the HSM is not available: {exc}")
    response = error(exc.status, exc.code, exc.reason, exc.fields)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


async def refused(request: Request, exc: SignerError | HsmError) -> JSONResponse:
    return refusal((await get_signer(request)).metrics, exc)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    reason = str(exc.detail) if exc.detail else "the request was refused"
    code = _HTTP_ERROR_CODES.get(exc.status_code, "requestRefused")
    response = error(exc.status_code, code, _HTTP_ERROR_REASONS.get(reason, reason))
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return error(400, "invalidParameters", validation_reason(exc))


# For FastAPI(exception_handlers=...): the exception class, and the handler that answers it.
EXCEPTION_HANDLERS: dict[int | type[Exception], Any] = {
    SignerError: refused,
    HsmError: refused,
    StarletteHTTPException: http_error,
    RequestValidationError: validation_error,
}

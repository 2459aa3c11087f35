"""The HTTP API (FastAPI). Handlers are thin: they authenticate, parse, and call `Signer`.

Blocking work (SQLite writes, Argon2, the HSM) runs in the thread pool: the busy endpoints are
coroutines that hand their whole work to the pool in one hop (`blocking`), the rest are `def`
handlers. Lookups that only read SQLite (the kiosk's token, the phone's long-poll) run on the event
loop itself: a read never waits for the writer (WAL), so they cost less than a hop to the pool and
a phone is woken without queueing behind Argon2 work. A waiting phone holds no thread.

The requests every order makes reach their endpoint functions through `signer.order_path`, in
front of FastAPI's stack; FastAPI still declares them (the OpenAPI document) and answers every
request on them that is not plainly well-formed.
"""

import asyncio
import base64
import binascii
import contextlib
import contextvars
import functools
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Header, Query, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from tillit.hsm.ca import ocsp_http_headers
from tillit.hsm.errors import CaNotInitialised, HsmError
from tillit.signer import cpus, errors
from tillit.signer.device_pins import DevicePins, WrongPin
from tillit.signer.http_limits import BodyLimits, RouteRules, body_limit
from tillit.signer.metrics import CONTENT_TYPE
from tillit.signer.order_path import Call, FastRoute, Handler, OrderPath, SignedCall, route
from tillit.signer.receipts import RECEIPT_MEDIA_TYPE
from tillit.signer.service import NewDocument, Signer
from tillit.signer.store import Kiosk
from tillit.signer.wire import (
    DEVICE_HEADER,
    NONCE_HEADER,
    PIN_PATH,
    REQUEST_SKEW_SECONDS,
    SESSION_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    UNLOCK_PATH,
    ActivationComplete,
    ActivationStart,
    AgreementIn,
    AppDecision,
    AppRequests,
    AppSettings,
    AuthRequest,
    BlockRequest,
    CodeRequest,
    CollectResponse,
    ErrorBody,
    FeedbackIn,
    MethodQuery,
    OrderRefRequest,
    OrderStarted,
    PasswordRequest,
    PinRefusal,
    PinRegistration,
    ResetComplete,
    ResetQuestions,
    ResetStart,
    SignRequest,
    UnlockGranted,
    UnlockRequest,
)

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody},
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
    413: {"model": ErrorBody},
    429: {"model": ErrorBody, "description": "Rate limited (Retry-After says when to try again)"},
    503: {"model": ErrorBody, "description": "The HSM is not available"},
}


# The media types of the binary answers and bodies, as the handlers send and take them.
PDF = "application/pdf"
CMS_SIGNATURE = "application/pkcs7-signature"
PEM_CHAIN = "application/pem-certificate-chain"
CRL = "application/pkix-crl"
CERT = "application/pkix-cert"
OCSP_REQUEST = "application/ocsp-request"
OCSP_RESPONSE = "application/ocsp-response"
TIMESTAMP_QUERY = "application/timestamp-query"
TIMESTAMP_REPLY = "application/timestamp-reply"


def binary_answer(description: str, *media_types: str) -> dict[str, Any]:
    """An OpenAPI response of raw bytes in one of `media_types`: `responses={200: binary_answer(...)}`
    beside `response_class=Response` (FastAPI documents JSON otherwise)."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {"description": description, "content": {media_type: binary for media_type in media_types}}


def binary_body(media_type: str, description: str) -> dict[str, Any]:
    """An endpoint's request body of raw bytes, for `openapi_extra` (it reads `request.body()` itself)."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
        }
    }


def device_signed(body: type[BaseModel] | None = None, key: str = "device key") -> dict[str, Any]:
    """`openapi_extra` of a phone's request signed by its device key (`signer.wire.request_message`):
    the X-Tillit-* headers that carry the signature, and the JSON body the endpoint reads itself."""
    headers = [
        (DEVICE_HEADER, "The device's id (from activation)", {"type": "string", "maxLength": 64}),
        (
            TIMESTAMP_HEADER,
            f"Unix time of the request, in seconds; refused beyond {REQUEST_SKEW_SECONDS} s from the signer's clock",
            {"type": "string", "pattern": "^[0-9]{1,12}$"},
        ),
        (NONCE_HEADER, "A fresh random value: each is accepted once", {"type": "string", "maxLength": 64}),
        (
            SIGNATURE_HEADER,
            f"base64 DER ECDSA P-256/SHA-256 by the {key} over 'tillit-request-v1\\n' followed by method, "
            "path?query, the body's SHA-256 (hex), timestamp and nonce, one per line",
            {"type": "string", "maxLength": 200},
        ),
    ]
    extra: dict[str, Any] = {
        "parameters": [
            {"name": name, "in": "header", "required": True, "description": text, "schema": schema}
            for name, text, schema in headers
        ]
    }
    if body is not None:
        extra["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body.model_json_schema(by_alias=True)}},
        }
    return extra


def describe_refusals(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document as the daemon answers: no 422 (a request FastAPI refuses is answered 400
    {error, reason}: `validation_error`), and on every operation the refusals of the front door
    (`signer.http_limits`: 400 for a bad Content-Length, 413 for a body over the route's limit)."""
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status, text in (("400", "Malformed request"), ("413", "The body is larger than the route takes")):
                responses.setdefault(status, {"description": text, "content": {"application/json": {"schema": error}}})
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


# The largest body of a phone's signed request (a decision, the app's settings): a few hundred bytes.
DEVICE_BODY_BYTES = 4096

# Endpoints that answer with an order's state, as /v1/collect does.
COLLECT_ROUTE: dict[str, Any] = {
    "response_model": CollectResponse,
    "response_model_by_alias": True,
    "response_model_exclude_none": True,
    "responses": ERROR_RESPONSES,
}


T = TypeVar("T")


async def blocking(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking work on the loop's executor (sized by `worker_threads`) in one hop. A `def`
    endpoint costs FastAPI up to three hops through anyio's pool (dependency, endpoint, response
    validation), each dearer than asyncio's own."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(None, context.run, functools.partial(fn, *args))


def _json(model: BaseModel, exclude_none: bool = False) -> Response:
    """A wire model as the response body. The route's `response_model` documents the shape; a
    `Response` returned as is spares FastAPI validating the model again and encoding it its own way."""
    return Response(model.model_dump_json(by_alias=True, exclude_none=exclude_none), media_type="application/json")


def _error(status: int, code: str, reason: str) -> JSONResponse:
    return JSONResponse({"error": code, "reason": reason}, status_code=status)


def _validation_reason(exc: RequestValidationError | ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        if err.get("type") == "json_invalid":
            return "the body is not valid JSON"
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


# The error codes of the framework's own refusals (before a handler runs: unknown route, body that
# is not JSON at all), so that every error body has the same {error, reason} shape.
_HTTP_ERROR_CODES = {400: "invalidParameters", 404: "notFound", 405: "methodNotAllowed", 413: "tooLarge"}
_HTTP_ERROR_REASONS = {"There was an error parsing the body": "the body is not valid JSON in UTF-8"}


class TillitApp(FastAPI):
    """FastAPI behind the daemon's own front door (`front`): each route's body limit and the latency
    metric (`signer.http_limits.BodyLimits`), then the order path (`signer.order_path`), and only
    then FastAPI's middleware stack, which an order's requests would otherwise pass layer by layer
    before reaching the router."""

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await (self.front or self.fastapi)(scope, receive, send)

    async def fastapi(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


async def sweep_store(signer: Signer) -> None:
    """Run the store's retention sweep (`signer.retention`) every `maintenance_interval_seconds`, on
    the pool; a failed sweep is logged and tried again next time."""
    log = logging.getLogger("tillit.retention")
    while True:
        await asyncio.sleep(signer.settings.maintenance_interval_seconds)
        try:
            report = await blocking(signer.retention.sweep)
        except Exception as e:  # the next sweep tries again; the daemon must not stop for it
            log.warning("the store's retention sweep failed: %s", e)
            continue
        if report.expired_orders or report.purged_orders:
            log.info(
                "retention: %d abandoned orders expired, %d orders' documents deleted",
                report.expired_orders,
                report.purged_orders,
            )


def create_app(signer: Signer) -> TillitApp:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        from concurrent.futures import ThreadPoolExecutor

        import anyio.to_thread

        workers = signer.settings.worker_threads
        if signer.settings.pin_request_path:
            # Before the pool's threads exist: they start from this thread and take its CPU.
            cpus.pin_request_path()
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(signer.settings.gil_switch_interval_ms / 1000)
        loop.set_default_executor(ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tillit-worker"))
        # The remaining `def` endpoints run on anyio's pool (40 threads by default): the same bound.
        anyio.to_thread.current_default_thread_limiter().total_tokens = workers
        sweeper = asyncio.create_task(sweep_store(signer))
        try:
            yield
        finally:
            sweeper.cancel()
            sys.setswitchinterval(switch_interval)
        from tillit.signer.audit import AuditBroken

        try:  # a clean stop signs the audit log's head, so that a later truncation is detectable
            signer.audit_log.checkpoint("shutdown")
        except HsmError as e:
            logging.getLogger("tillit.audit").warning("no audit checkpoint at shutdown: %s", e)
        except AuditBroken as e:  # the database no longer extends the anchor in the HSM
            logging.getLogger("tillit.audit").error("audit checkpoint refused at shutdown, nothing signed: %s", e)

    app = TillitApp(
        title="Tillit signer",
        version="1",
        description="BankID-style login and signing with keys in a PKCS#11 HSM.",
        lifespan=lifespan,
    )
    app.state.signer = signer

    def openapi() -> dict[str, Any]:
        """FastAPI's document, once, with the refusals as the daemon answers them (`describe_refusals`)."""
        if app.openapi_schema is None:
            app.openapi_schema = describe_refusals(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    max_body = signer.settings.max_body_bytes

    def observe(scope: Scope, status: int, seconds: float) -> None:
        """The latency metric, by route template (the front door, `BodyLimits`, reports every request)."""
        label = getattr(scope.get("route"), "path", "unmatched")
        signer.metrics.http_seconds.labels(scope["method"], label, f"{status // 100}xx").observe(seconds)

    def refusal(exc: errors.SignerError | HsmError) -> JSONResponse:
        """The answer to a refusal, on FastAPI's routes and on the order path alike."""
        if isinstance(exc, HsmError):
            signer.metrics.hsm_errors.inc()
            return _error(503, "hsmUnavailable", f"the HSM is not available: {exc}")
        response = _error(exc.status, exc.code, exc.reason)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.exception_handler(errors.SignerError)
    async def signer_error(request: Request, exc: errors.SignerError) -> JSONResponse:
        return refusal(exc)

    @app.exception_handler(HsmError)
    async def hsm_error(request: Request, exc: HsmError) -> JSONResponse:
        return refusal(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = str(exc.detail) if exc.detail else "the request was refused"
        code = _HTTP_ERROR_CODES.get(exc.status_code, "requestRefused")
        response = _error(exc.status_code, code, _HTTP_ERROR_REASONS.get(reason, reason))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, "invalidParameters", _validation_reason(exc))

    # -- relying party (kiosk) -----------------------------------------------------------------

    # The OpenAPI document's security schemes; the tokens are checked by `kiosk_token` and `staff_token`.
    kiosk_scheme = HTTPBearer(scheme_name="kioskToken", description="A kiosk's token", auto_error=False)
    staff_scheme = HTTPBearer(scheme_name="staffToken", description="A back-office staff token", auto_error=False)
    Credentials = HTTPAuthorizationCredentials | None

    def bearer(authorization: str | None) -> str:
        """The token of an Authorization header, parsed as `HTTPBearer` parses it (scheme in any case)."""
        scheme, token = get_authorization_scheme_param(authorization)
        if scheme.lower() != "bearer" or not token:
            raise errors.Unauthorized("a bearer token is required")
        return token

    def as_kiosk(token: str) -> Kiosk:
        found = signer.kiosk_for_token(token)
        if found.role != "kiosk":
            raise errors.Forbidden("this token is not a kiosk's")
        return found

    async def kiosk_token(authorization: str | None) -> Kiosk:
        """The kiosk of an Authorization header's value: the front door, the order path and `kiosk`."""
        token = bearer(authorization)
        if signer.store.local_reads:
            return as_kiosk(token)  # one indexed read that never waits: cheaper than a hop
        return await blocking(as_kiosk, token)

    def staff_token(authorization: str | None) -> Kiosk:
        found = signer.kiosk_for_token(bearer(authorization))
        if found.role != "staff":
            raise errors.Forbidden("a staff token is required")
        return found

    def header_of(credentials: Credentials) -> str | None:
        return f"{credentials.scheme} {credentials.credentials}" if credentials is not None else None

    async def kiosk(credentials: Annotated[Credentials, Security(kiosk_scheme)]) -> Kiosk:
        return await kiosk_token(header_of(credentials))

    def staff(credentials: Annotated[Credentials, Security(staff_scheme)]) -> Kiosk:
        return staff_token(header_of(credentials))

    KioskDep = Annotated[Kiosk, Depends(kiosk)]
    StaffDep = Annotated[Kiosk, Depends(staff)]

    @app.post("/v1/auth", response_model=OrderStarted, response_model_by_alias=True, responses=ERROR_RESPONSES)
    async def start_auth(body: AuthRequest, k: KioskDep) -> Response:
        """Start a login order; the customer's phone is asked to approve it."""
        started = await blocking(
            functools.partial(signer.start_order, method=body.method),
            k,
            "auth",
            body.personal_number,
            body.user_visible_data,
        )
        return _json(started)

    @app.post("/v1/sign", response_model=OrderStarted, response_model_by_alias=True, responses=ERROR_RESPONSES)
    @body_limit(max_body)
    async def start_sign(body: SignRequest, k: KioskDep) -> Response:
        """Start a sign order over one or more documents (base64)."""
        return _json(await blocking(start_sign_order, body, k))

    def start_sign_order(body: SignRequest, k: Kiosk) -> OrderStarted:
        documents = []
        if body.agreement_id:
            if body.documents:
                raise errors.InvalidInput("give either agreementId or documents, not both")
            agreement = signer.agreements.for_sign_order(k, body.personal_number, body.agreement_id)
            documents.append(NewDocument(agreement.name, "application/pdf", agreement.content))
        elif not body.documents:
            raise errors.InvalidInput("a sign order needs at least one document (or an agreementId)")
        for doc in body.documents:
            if len(doc.content) > signer.settings.max_document_bytes * 4 // 3 + 8:
                raise errors.TooLarge(
                    f"document '{doc.name}' is larger than {signer.settings.max_document_bytes} bytes"
                )
            try:
                content = base64.b64decode(doc.content, validate=True)
            except (binascii.Error, ValueError):
                raise errors.InvalidInput(f"document '{doc.name}' is not valid base64") from None
            if not content:
                raise errors.InvalidInput(f"document '{doc.name}' is empty")
            documents.append(NewDocument(doc.name, doc.content_type, content))
        return signer.start_order(
            k, "sign", body.personal_number, body.user_visible_data, documents, agreement_id=body.agreement_id
        )

    @app.post("/v1/collect", **COLLECT_ROUTE)
    async def collect(body: OrderRefRequest, k: KioskDep) -> Response:
        """The order's status and, when complete, its completion data."""
        # A read, as the kiosk's token is: on the loop with SQLite, unless the order must be expired.
        answer = signer.collect_read(k, body.order_ref) if signer.store.local_reads else None
        if answer is None:
            answer = await blocking(signer.collect, k, body.order_ref)
        return _json(answer, exclude_none=True)

    @app.post("/v1/password", **COLLECT_ROUTE)
    async def password(body: PasswordRequest, k: KioskDep) -> Response:
        """The customer's password, after the phone approved."""
        return _json(await blocking(signer.submit_password, k, body.order_ref, body.password), exclude_none=True)

    @app.post("/v1/code", **COLLECT_ROUTE)
    def code(body: CodeRequest, k: KioskDep) -> CollectResponse:
        """The one-time code from the customer's code device (code-device login)."""
        return signer.submit_code(k, body.order_ref, body.code)

    @app.post("/v1/cancel", **COLLECT_ROUTE)
    async def cancel(body: OrderRefRequest, k: KioskDep) -> CollectResponse:
        """Cancel an open order."""
        return await blocking(signer.cancel, k, body.order_ref)

    @app.get(
        "/v1/orders/{order_ref}/documents/{index}",
        response_class=Response,
        responses={
            **ERROR_RESPONSES,
            200: binary_answer(
                "The signed PDF, or the detached CMS signature (DER) of another file", PDF, CMS_SIGNATURE
            ),
            410: {"model": ErrorBody, "description": "Deleted after the retention period"},
        },
    )
    async def signed_document(order_ref: str, index: int, k: KioskDep) -> Response:
        """The signed PDF, or the detached CMS signature (DER) of another file."""
        found = signer.signed_document_read(k, order_ref, index) if signer.store.local_reads else None
        if found is None:
            found = await blocking(signer.signed_document, k, order_ref, index)
        content, media_type, filename = found
        return Response(
            content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )

    @app.get(
        "/v1/orders/{order_ref}/receipt",
        response_class=Response,
        responses={
            **ERROR_RESPONSES,
            200: {
                "description": "The receipt as a compact JWS (ES256, `typ` tillit-receipt+jwt, `kid` in /v1/keys)",
                "content": {RECEIPT_MEDIA_TYPE: {"schema": {"type": "string", "pattern": r"^[\w-]+\.[\w-]+\.[\w-]+$"}}},
            },
        },
    )
    async def receipt(order_ref: str, k: KioskDep) -> Response:
        """The signed receipt of a completed sign order (signer/receipts.py), to the kiosk that ran it."""
        if signer.store.local_reads:
            signed = signer.kiosk_receipt(k, order_ref)  # a read that never waits, as for the documents
        else:
            signed = await blocking(signer.kiosk_receipt, k, order_ref)
        return Response(signed, media_type=RECEIPT_MEDIA_TYPE)

    @app.post("/v1/login-method", responses=ERROR_RESPONSES)
    def login_method(body: MethodQuery, k: KioskDep) -> dict[str, Any]:
        """The remembered login method ("app", "codedevice", "biometric") or null: choose one."""
        return {"method": signer.remembered_method(k, body.personal_number)}

    @app.post("/v1/feedback", status_code=204, responses=ERROR_RESPONSES)
    def feedback(body: FeedbackIn, k: KioskDep) -> Response:
        """A rating (1-5) and optional comment after a completed order; stored without identity."""
        signer.feedback.give(k, body.order_ref, body.rating, body.comment)
        return Response(status_code=204)

    # -- lifecycle -----------------------------------------------------------------------------

    @app.post("/v1/block", responses=ERROR_RESPONSES)
    def block(body: BlockRequest, k: KioskDep) -> dict[str, Any]:
        """Block a BankID (sperre). With an orderRef, a completed login of the customer at this kiosk;
        without (phone lost) only the number, a few times an hour per kiosk (429 beyond). The answer is
        the same whether or not the number has a BankID."""
        signer.lifecycle.block_from_kiosk(k, body.personal_number, body.reason, body.order_ref)
        return {"personalNumber": body.personal_number, "blocked": True}

    @app.post("/v1/reset", response_model=OrderStarted, response_model_by_alias=True, responses=ERROR_RESPONSES)
    def reset_start(body: ResetStart, k: KioskDep) -> OrderStarted:
        """Start a forgotten-password reset: the phone (or code device) approves first."""
        return signer.lifecycle.start_reset(k, body.personal_number, body.method, body.user_visible_data)

    @app.post(
        "/v1/reset/questions", response_model=ResetQuestions, response_model_by_alias=True, responses=ERROR_RESPONSES
    )
    def reset_questions(body: OrderRefRequest, k: KioskDep) -> ResetQuestions:
        """The customer's control questions as codes (the kiosk words them), once the reset order is approved."""
        return ResetQuestions(order_ref=body.order_ref, questions=signer.lifecycle.questions(k, body.order_ref))

    @app.post("/v1/reset/complete", **COLLECT_ROUTE)
    def reset_complete(body: ResetComplete, k: KioskDep) -> CollectResponse:
        """The answers and the new password; unlocks a locked password."""
        return signer.lifecycle.complete_reset(k, body.order_ref, body.answers, body.new_password)

    # -- agreements ----------------------------------------------------------------------------

    def customer_session(x_tillit_session: Annotated[str | None, Header()] = None) -> str:
        if not x_tillit_session:
            raise errors.Unauthorized(f"the customer session's token is required in {SESSION_HEADER}", "sessionInvalid")
        return x_tillit_session.strip()

    SessionDep = Annotated[str, Depends(customer_session)]

    @app.get("/v1/agreements", responses=ERROR_RESPONSES)
    def agreements(k: KioskDep, session: SessionDep) -> dict[str, Any]:
        """The customer's waiting agreements: the kiosk's bearer token, and the login's completion
        token (issued to this kiosk) in the X-Tillit-Session header."""
        return {"agreements": signer.agreements.waiting(k, session)}

    @app.get(
        "/v1/agreements/{agreement_id}/document",
        response_class=Response,
        responses={**ERROR_RESPONSES, 200: binary_answer("The agreement's PDF", PDF)},
    )
    def agreement_document(agreement_id: str, k: KioskDep, session: SessionDep) -> Response:
        """The agreement's PDF, for the customer to read before signing (credentials as for the list)."""
        found = signer.agreements.document(k, session, agreement_id)
        return Response(found.content, media_type=PDF)

    @app.delete("/v1/session", status_code=204, responses=ERROR_RESPONSES)
    def end_session(k: KioskDep, session: SessionDep) -> Response:
        """End the customer session (the kiosk forgets the customer)."""
        signer.agreements.end_session(k, session)
        return Response(status_code=204)

    @app.post("/v1/agreements", status_code=201, responses=ERROR_RESPONSES)
    @body_limit(max_body)
    def add_agreement(body: AgreementIn, s: StaffDep) -> dict[str, Any]:
        """Queue an agreement for a customer (back office, staff token)."""
        try:
            content = base64.b64decode(body.document, validate=True)
        except (binascii.Error, ValueError):
            raise errors.InvalidInput("the document is not valid base64") from None
        added = signer.agreements.add(body.personal_number, body.title, body.name, content)
        return {"id": added.id, "title": added.title}

    # -- phone ---------------------------------------------------------------------------------

    @app.post("/v1/app/activations", status_code=201, responses=ERROR_RESPONSES)
    def activation_start(body: ActivationStart) -> dict[str, Any]:
        """Start activating the app on this phone (codedevice, sms-email or old-device)."""
        return signer.activations.start(body.personal_number, body.method, body.device_name, body.public_key)

    @app.post("/v1/app/activations/{activation_id}/complete", responses=ERROR_RESPONSES)
    def activation_complete(activation_id: str, body: ActivationComplete) -> dict[str, Any]:
        """Finish activation with the codes (or the old phone's approval) and the password."""
        return signer.activations.complete(
            activation_id, body.proof, body.password, body.sms_code, body.email_code, body.code
        )

    @app.get(
        "/v1/app/requests",
        response_model=AppRequests,
        response_model_by_alias=True,
        responses=ERROR_RESPONSES,
        openapi_extra=device_signed(),
    )
    async def app_requests(request: Request, wait: Annotated[float, Query(ge=0, le=60)] = 0) -> Response:
        """Pending requests for this device; waits up to `wait` seconds for one to arrive."""
        return await device_requests(await SignedCall.of(request), wait)

    async def device_requests(call: SignedCall, wait: float) -> Response:
        dev = await blocking(signer.authenticate_device, call.method, call.path, call.body, call.headers, True)
        if dev.status != "active":
            return _json(AppRequests(requests=[], device_status="deactivated"))
        deadline = time.monotonic() + wait
        waiter = signer.notifier.subscribe(dev.id)
        try:
            while True:
                waiter[1].clear()
                # Reads only: on the loop with SQLite, so a woken phone does not queue for the pool.
                found, still_active = signer.poll(dev) if signer.store.local_reads else await blocking(signer.poll, dev)
                if not still_active:
                    return _json(AppRequests(requests=[], device_status="deactivated"))
                remaining = deadline - time.monotonic()
                if found or remaining <= 0:
                    return _json(AppRequests(requests=found, device_status="active"))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter[1].wait(), remaining)
        finally:
            signer.notifier.unsubscribe(dev.id, waiter)

    @app.post(
        "/v1/app/requests/{order_ref}",
        response_model=dict[str, str],
        responses=ERROR_RESPONSES,
        openapi_extra=device_signed(AppDecision),
    )
    @body_limit(DEVICE_BODY_BYTES)
    async def app_decide(order_ref: str, request: Request) -> Response:
        """Approve ("Ja, det er meg") or decline ("Nei, avvis"), signed over the challenge."""
        return await device_decision(order_ref, await SignedCall.of(request))

    async def device_decision(order_ref: str, call: SignedCall) -> Response:
        def decide() -> str:  # the device's signature, then the decision: one hop to the pool
            checked = signer.check_device_request(call.method, call.path, call.body, call.headers)
            try:
                body = AppDecision.model_validate_json(call.body)
                signature = base64.b64decode(body.signature, validate=True)
            except ValidationError as e:
                signer.settle_device_request(checked)  # a refused signature answers 401 before any 400
                raise errors.InvalidInput(_validation_reason(e)) from None
            except (binascii.Error, ValueError):
                signer.settle_device_request(checked)
                raise errors.InvalidInput("the signature is not valid base64") from None
            return signer.decide_request(checked, order_ref, body.decision, signature, body.biometric)

        decided = await blocking(decide)
        return Response(f'{{"orderRef":{json.dumps(order_ref)},"decision":"{decided}"}}', media_type="application/json")

    @app.post(
        "/v1/app/settings",
        response_model=AppSettings,
        responses=ERROR_RESPONSES,
        openapi_extra=device_signed(AppSettings),
    )
    @body_limit(DEVICE_BODY_BYTES)
    async def app_settings(request: Request) -> AppSettings:
        """The app's settings the signer must know: login without password on or off."""
        call = await SignedCall.of(request)

        def apply() -> AppSettings:
            dev = signer.authenticate_device(call.method, call.path, call.body, call.headers, False)
            try:
                body = AppSettings.model_validate_json(call.body)
            except ValidationError as e:
                raise errors.InvalidInput(_validation_reason(e)) from None
            return AppSettings(biometric=signer.set_biometric(dev, body.biometric))

        return await blocking(apply)

    # -- the app PIN, checked here (signer/device_pins.py) ---------------------------------------

    device_pins = DevicePins(signer.store, signer.clock, signer.notifier)

    @app.post(PIN_PATH, status_code=201, responses=ERROR_RESPONSES, openapi_extra=device_signed(PinRegistration))
    async def app_pin(request: Request) -> dict[str, Any]:
        """Register the app PIN's verifier, the unlock key and the wrap secret (once, signed by the device key)."""
        call = await SignedCall.of(request)

        def register() -> dict[str, Any]:
            dev = signer.authenticate_device(call.method, call.path, call.body, call.headers, False)
            try:
                body = PinRegistration.model_validate_json(call.body)
            except ValidationError as e:
                raise errors.InvalidInput(_validation_reason(e)) from None
            device_pins.register(dev, body)
            return {"deviceId": dev.id, "attempts": device_pins.attempts}

        return await blocking(register)

    @app.post(
        UNLOCK_PATH,
        response_model=UnlockGranted,
        # 401: a wrong PIN (PinRefusal, with the attempts left), or a request the unlock key did not sign.
        responses={**ERROR_RESPONSES, 401: {"model": PinRefusal | ErrorBody}},
        openapi_extra=device_signed(UnlockRequest, key="unlock key"),
    )
    async def app_unlock(request: Request) -> Response:
        """The app PIN, checked (signed by the unlock key): the wrap secret, or 401 `wrongPin` with the
        attempts left; the last wrong PIN locks the device (403 `deviceLocked`)."""
        call = await SignedCall.of(request)
        try:
            granted = await blocking(device_pins.unlock, call.method, call.path, call.body, call.headers)
        except WrongPin as e:
            refused = PinRefusal(error=e.code, reason=e.reason, attempts_left=e.attempts_left)
            return JSONResponse(refused.model_dump(by_alias=True), status_code=e.status)
        return _json(granted)

    # -- public --------------------------------------------------------------------------------

    @app.get("/v1/keys")
    def jwks() -> dict[str, Any]:
        """The service's token-signing keys (JWKS)."""
        return signer.tokens.jwks()

    @app.get(
        "/v1/ca",
        response_class=Response,
        responses={200: {"description": "PEM", "content": {PEM_CHAIN: {"schema": {"type": "string"}}}}},
    )
    def ca_chain() -> PlainTextResponse:
        """The CA chain (issuing CA, root) as PEM, for people; certificates name the DER ones below."""
        return PlainTextResponse(signer.ca.chain_pem(), media_type="application/pem-certificate-chain")

    # RFC 5280 4.2.2.1: a caIssuers URL over HTTP answers one DER certificate as application/pkix-cert.
    @app.get("/v1/ca/root.cer", response_class=Response, responses={200: binary_answer("The root CA (DER)", CERT)})
    def ca_root() -> Response:
        """The root CA's certificate (DER), named by the issuing CA's caIssuers."""
        return Response(signer.ca.certificate_der("root"), media_type=CERT)

    @app.get(
        "/v1/ca/issuing.cer", response_class=Response, responses={200: binary_answer("The issuing CA (DER)", CERT)}
    )
    def ca_issuing() -> Response:
        """The issuing CA's certificate (DER), named by the customers' caIssuers."""
        return Response(signer.ca.certificate_der("issuing"), media_type=CERT)

    @app.get("/v1/crl", response_class=Response, responses={200: binary_answer("The CRL (DER)", CRL)})
    def crl() -> Response:
        """The current CRL (DER): signed anew when a certificate was revoked, else hourly."""
        return Response(signer.current_crl(), media_type="application/pkix-crl")

    @app.get("/v1/crl/root", response_class=Response, responses={200: binary_answer("The root's CRL (DER)", CRL)})
    def root_crl() -> Response:
        """The root's CRL (DER), named by the issuing CA's certificate."""
        return Response(signer.ca.root_crl(), media_type=CRL)

    # At startup (and then on use) the OCSP responder's short-lived certificate is renewed when due.
    try:
        signer.ca.renew_ocsp_certificate_if_due()
    except CaNotInitialised:
        pass  # `tillit-hsm ca init` comes later; the responder answers nothing meanwhile
    except HsmError as e:
        logging.getLogger("tillit.ca").warning("the OCSP responder's certificate was not checked: %s", e)

    # A few OCSP answers at a time, each in one hop to the pool: a flood gets 503s, not every thread.
    ocsp_slots = asyncio.Semaphore(signer.settings.ocsp_concurrency)
    ocsp_request_chars = 4 * -(-signer.settings.ocsp_max_request_bytes // 3)  # its base64, padded

    def answer_ocsp(request_der: bytes) -> tuple[bytes, dict[str, str]]:
        answer = signer.ca.ocsp_response(
            request_der,
            max_cert_ids=signer.settings.ocsp_max_cert_ids,
            reuse_for=signer.settings.ocsp_cache_seconds,
        )
        return answer, ocsp_http_headers(answer)

    async def ocsp_answer(request_der: bytes) -> Response:
        """The OCSP response with RFC 5019 caching headers; 503 with Retry-After while busy."""
        if ocsp_slots.locked():
            busy = _error(503, "busy", "the OCSP responder is answering as many requests as it may; try again")
            busy.headers["Retry-After"] = "1"
            return busy
        async with ocsp_slots:
            answer, headers = await blocking(answer_ocsp, request_der)
        return Response(answer, media_type=OCSP_RESPONSE, headers=headers)

    @app.post(
        "/v1/ocsp",
        response_class=Response,
        responses={
            200: binary_answer(
                "The OCSP response (DER), malformedRequest or unauthorized ones included", OCSP_RESPONSE
            ),
            413: {"model": ErrorBody},
            503: {"model": ErrorBody, "description": "Busy with other OCSP requests (Retry-After says when to retry)"},
        },
        openapi_extra=binary_body(OCSP_REQUEST, "The OCSP request (DER)"),
    )
    @body_limit(signer.settings.ocsp_max_request_bytes)
    async def ocsp(request: Request) -> Response:
        """RFC 6960 OCSP (DER request in, DER response out); 503 with Retry-After while busy."""
        return await ocsp_answer(await request.body())

    @app.get(
        "/v1/ocsp/{encoded_request:path}",
        response_class=Response,
        responses={
            200: binary_answer(
                "The OCSP response (DER), malformedRequest or unauthorized ones included", OCSP_RESPONSE
            ),
            404: {"model": ErrorBody, "description": "A path no request could be (a line break in it)"},
            414: {"model": ErrorBody, "description": "The request is longer than a POST to /v1/ocsp may be"},
            503: {"model": ErrorBody, "description": "Busy with other OCSP requests (Retry-After says when to retry)"},
        },
    )
    async def ocsp_get(encoded_request: str) -> Response:
        """RFC 6960 A.1 / RFC 5019 OCSP by GET: the DER request in base64 (or base64url), URL-encoded
        or not, as the path's last part; answers as the POST does, cacheable (RFC 5019 6.2) when signed
        and without a nonce. Text that is not base64 is a malformed request."""
        if len(encoded_request) > ocsp_request_chars:
            return _error(414, "uriTooLong", f"an OCSP request is at most {ocsp_request_chars} base64 characters")
        text = encoded_request.replace("-", "+").replace("_", "/")  # base64url (RFC 4648 5) too
        try:
            request_der = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            request_der = b""  # answered malformedRequest, as an unreadable POST body is
        return await ocsp_answer(request_der)

    # RFC 3161 over HTTP (3.4): a few answers at a time, each one HSM signature; a flood gets 503s.
    tsa_slots = asyncio.Semaphore(signer.settings.tsa_concurrency)

    @app.post(
        "/v1/tsa",
        response_class=Response,
        responses={
            200: {"content": {"application/timestamp-reply": {}}, "description": "A granted TimeStampResp (DER)"},
            400: {"content": {"application/timestamp-reply": {}}, "description": "A rejection; statusString says why"},
            413: {"model": ErrorBody},
            415: {"model": ErrorBody},
            503: {"model": ErrorBody, "description": "Busy with other timestamp requests (Retry-After says when)"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "The TimeStampReq (DER)",
                "content": {"application/timestamp-query": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    @body_limit(signer.settings.tsa_max_request_bytes)
    async def tsa(request: Request) -> Response:
        """RFC 3161 timestamps: a DER TimeStampReq (application/timestamp-query) in, a DER
        TimeStampResp (application/timestamp-reply) out, signed by the TSA key in the HSM."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/timestamp-query":
            return _error(415, "unsupportedMediaType", "send a DER TimeStampReq as application/timestamp-query")
        body = await request.body()
        if tsa_slots.locked():
            busy = _error(503, "busy", "the TSA is answering as many requests as it may; try again")
            busy.headers["Retry-After"] = "1"
            return busy
        async with tsa_slots:
            answer = await blocking(signer.documents.tsa.answer, body)
        status = 200 if answer.granted else 400
        return Response(answer.der, status_code=status, media_type="application/timestamp-reply")

    @app.get(
        "/healthz",
        responses={
            503: {
                "description": "The HSM or the store is not available (the same report)",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    )
    def healthz() -> JSONResponse:
        """Whether the HSM answers and the store is writable."""
        report = signer.health()
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> Response:
        """Prometheus text format: orders by outcome, request latencies, HSM signatures and errors."""
        return Response(signer.metrics.render(), media_type=CONTENT_TYPE)

    from tillit.signer import testhooks

    if testhooks.enabled():
        testhooks.install(app, signer)

    # -- the order path without FastAPI's machinery (see signer.order_path) ----------------------

    def kiosk_json(model: type[BaseModel], endpoint: Callable[[Any, Kiosk], Awaitable[Response]]) -> Handler:
        """A kiosk's JSON POST: the body as `model` and the bearer's kiosk, as FastAPI would pass them."""

        async def handle(call: Call) -> Response | None:
            body = call.json(model)
            return None if body is None else await endpoint(body, await call.kiosk())

        return handle

    @route("GET", "/v1/orders/{order_ref}/documents/{index}")
    async def fast_signed_document(call: Call) -> Response | None:
        index = call.params["index"]
        if not (index.isascii() and index.isdigit() and len(index) <= 4) or call.query():
            return None
        return await signed_document(call.params["order_ref"], int(index), await call.kiosk())

    @route("GET", "/v1/app/requests")
    async def fast_app_requests(call: Call) -> Response | None:
        wait = call.wait_seconds(60)
        return None if wait is None else await device_requests(call.signed(), wait)

    @route("POST", "/v1/app/requests/{order_ref}")
    async def fast_app_decide(call: Call) -> Response | None:
        return None if call.query() else await device_decision(call.params["order_ref"], call.signed())

    order_routes: list[FastRoute] = [
        FastRoute("POST", "/v1/auth", kiosk_json(AuthRequest, start_auth)),
        FastRoute("POST", "/v1/sign", kiosk_json(SignRequest, start_sign)),
        FastRoute("POST", "/v1/password", kiosk_json(PasswordRequest, password)),
        FastRoute("POST", "/v1/collect", kiosk_json(OrderRefRequest, collect)),
        fast_app_requests,
        fast_app_decide,
        fast_signed_document,
    ]
    # Every route's body limit and bearer check come from FastAPI's route table, the order path's too.
    rules = RouteRules.of(
        app.routes,
        json_limit=signer.settings.max_json_body_bytes,
        credentials={kiosk: kiosk_token, staff: functools.partial(blocking, staff_token)},
    )
    order_path = OrderPath(app.fastapi, kiosk_for=kiosk_token, refusal=refusal, routes=order_routes)
    app.front = BodyLimits(order_path, rules, refusal=refusal, observe=observe)
    return app

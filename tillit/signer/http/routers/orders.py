"""The kiosk's orders: start a login or a signing, follow it, and fetch what it signed."""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Response

from tillit.signer import errors
from tillit.signer.document_checks import NewDocument
from tillit.signer.http.deps import KioskDep, SignerDep
from tillit.signer.http.middleware import body_limit
from tillit.signer.http.openapi import (
    CMS_SIGNATURE,
    COLLECT_ROUTE,
    ERROR_RESPONSES,
    PDF,
    binary_answer,
    json_answer,
)
from tillit.signer.http.order_path import on_order_path
from tillit.signer.http.pool import blocking
from tillit.signer.receipts import RECEIPT_MEDIA_TYPE
from tillit.signer.service import Signer
from tillit.signer.store.records import Kiosk
from tillit.signer.wire import (
    AuthRequest,
    CodeRequest,
    CollectResponse,
    ErrorBody,
    FeedbackIn,
    MethodQuery,
    OrderRefRequest,
    OrderStarted,
    PasswordRequest,
    SignRequest,
)

router = APIRouter()


@router.post("/v1/auth", response_model=OrderStarted, response_model_by_alias=True, responses=ERROR_RESPONSES)
@on_order_path
async def start_auth(body: AuthRequest, k: KioskDep, signer: SignerDep) -> Response:
    """Start a login order; the customer's phone is asked to approve it."""
    started = await blocking(
        functools.partial(signer.start_order, method=body.method),
        k,
        "auth",
        body.personal_number,
        body.user_visible_data,
    )
    return json_answer(started)


@router.post("/v1/sign", response_model=OrderStarted, response_model_by_alias=True, responses=ERROR_RESPONSES)
@body_limit(lambda settings: settings.max_body_bytes)
@on_order_path
async def start_sign(body: SignRequest, k: KioskDep, signer: SignerDep) -> Response:
    """Start a sign order over one or more documents (base64)."""
    return json_answer(await blocking(start_sign_order, signer, body, k))


def start_sign_order(signer: Signer, body: SignRequest, k: Kiosk) -> OrderStarted:
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
            raise errors.TooLarge(f"document '{doc.name}' is larger than {signer.settings.max_document_bytes} bytes")
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


@router.post("/v1/collect", **COLLECT_ROUTE)
@on_order_path
async def collect(body: OrderRefRequest, k: KioskDep, signer: SignerDep) -> Response:
    """The order's status and, when complete, its completion data."""
    # A read, as the kiosk's token is: on the loop with SQLite (it writes only to expire the order).
    if signer.store.local_reads:
        answer = signer.collect(k, body.order_ref)
    else:
        answer = await blocking(signer.collect, k, body.order_ref)
    return json_answer(answer, exclude_none=True)


@router.post("/v1/password", **COLLECT_ROUTE)
@on_order_path
async def password(body: PasswordRequest, k: KioskDep, signer: SignerDep) -> Response:
    """The customer's password, after the phone approved."""
    return json_answer(await blocking(signer.submit_password, k, body.order_ref, body.password), exclude_none=True)


@router.post("/v1/code", **COLLECT_ROUTE)
def code(body: CodeRequest, k: KioskDep, signer: SignerDep) -> CollectResponse:
    """The one-time code from the customer's code device (code-device login)."""
    return signer.submit_code(k, body.order_ref, body.code)


@router.post("/v1/cancel", **COLLECT_ROUTE)
async def cancel(body: OrderRefRequest, k: KioskDep, signer: SignerDep) -> CollectResponse:
    """Cancel an open order."""
    return await blocking(signer.cancel, k, body.order_ref)


@router.get(
    "/v1/orders/{order_ref}/documents/{index}",
    response_class=Response,
    responses={
        **ERROR_RESPONSES,
        200: binary_answer("The signed PDF, or the detached CMS signature (DER) of another file", PDF, CMS_SIGNATURE),
        410: {"model": ErrorBody, "description": "Deleted after the retention period"},
    },
)
@on_order_path
async def signed_document(order_ref: str, index: int, k: KioskDep, signer: SignerDep) -> Response:
    """The signed PDF, or the detached CMS signature (DER) of another file."""
    if signer.store.local_reads:  # a read: on the loop with SQLite (it writes only to expire the order)
        found = signer.signed_document(k, order_ref, index)
    else:
        found = await blocking(signer.signed_document, k, order_ref, index)
    content, media_type, filename = found
    return Response(content, media_type=media_type, headers={"Content-Disposition": attachment(filename)})


def attachment(filename: str) -> str:
    """A Content-Disposition naming the download `filename` (RFC 6266): the name itself when it is
    plain ASCII, else an ASCII stand-in for old clients and the UTF-8 name percent-encoded in
    `filename*`. A document's name is the kiosk's to choose; quoted raw, a quote or a semicolon in it
    would name another file, and a character outside Latin-1 could not be sent at all."""
    encoded = quote(filename, safe="")
    if encoded == filename:
        return f'attachment; filename="{filename}"'
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\/;%' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


@router.get(
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
async def receipt(order_ref: str, k: KioskDep, signer: SignerDep) -> Response:
    """The signed receipt of a completed sign order (signer/receipts.py), to the kiosk that ran it."""
    if signer.store.local_reads:
        signed = signer.kiosk_receipt(k, order_ref)  # a read that never waits, as for the documents
    else:
        signed = await blocking(signer.kiosk_receipt, k, order_ref)
    return Response(signed, media_type=RECEIPT_MEDIA_TYPE)


@router.post("/v1/login-method", responses=ERROR_RESPONSES)
def login_method(body: MethodQuery, k: KioskDep, signer: SignerDep) -> dict[str, Any]:
    """The remembered login method ("app", "codedevice", "biometric") or null: choose one."""
    return {"method": signer.remembered_method(k, body.personal_number)}


# After the order, so that the OpenAPI document lists the paths in the order it always has.
@router.post("/v1/feedback", status_code=204, responses=ERROR_RESPONSES)
def feedback(body: FeedbackIn, k: KioskDep, signer: SignerDep) -> Response:
    """A rating (1-5) and optional comment after a completed order; stored without identity."""
    signer.feedback.give(k, body.order_ref, body.rating, body.comment)
    return Response(status_code=204)

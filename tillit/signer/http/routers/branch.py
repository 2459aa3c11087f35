"""The branch's agreements: a customer's waiting agreements at the kiosk, and the back office's queue."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Response

from tillit.signer import errors
from tillit.signer.http.deps import KioskDep, SessionDep, SignerDep, StaffDep
from tillit.signer.http.middleware import body_limit
from tillit.signer.http.openapi import ERROR_RESPONSES, PDF, binary_answer
from tillit.signer.wire import AgreementIn

router = APIRouter()


@router.get("/v1/agreements", responses=ERROR_RESPONSES)
def agreements(k: KioskDep, session: SessionDep, signer: SignerDep) -> dict[str, Any]:
    """The customer's waiting agreements: the kiosk's bearer token, and the login's completion
    token (issued to this kiosk) in the X-Tillit-Session header."""
    return {"agreements": signer.agreements.waiting(k, session)}


@router.get(
    "/v1/agreements/{agreement_id}/document",
    response_class=Response,
    responses={**ERROR_RESPONSES, 200: binary_answer("The agreement's PDF", PDF)},
)
def agreement_document(agreement_id: str, k: KioskDep, session: SessionDep, signer: SignerDep) -> Response:
    """The agreement's PDF, for the customer to read before signing (credentials as for the list)."""
    found = signer.agreements.document(k, session, agreement_id)
    return Response(found.content, media_type=PDF)


@router.delete("/v1/session", status_code=204, responses=ERROR_RESPONSES)
def end_session(k: KioskDep, session: SessionDep, signer: SignerDep) -> Response:
    """End the customer session (the kiosk forgets the customer)."""
    signer.agreements.end_session(k, session)
    return Response(status_code=204)


@router.post("/v1/agreements", status_code=201, responses=ERROR_RESPONSES)
@body_limit(lambda settings: settings.max_body_bytes)
def add_agreement(body: AgreementIn, s: StaffDep, signer: SignerDep) -> dict[str, Any]:
    """Queue an agreement for a customer (back office, staff token)."""
    try:
        content = base64.b64decode(body.document, validate=True)
    except (binascii.Error, ValueError):
        raise errors.InvalidInput("the document is not valid base64") from None
    added = signer.agreements.add(body.personal_number, body.title, body.name, content)
    return {"id": added.id, "title": added.title}

"""A customer's BankID at the kiosk: block it, or reset a forgotten password."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tillit.signer.http.deps import KioskDep, SignerDep
from tillit.signer.http.openapi import COLLECT_ROUTE, ERROR_RESPONSES
from tillit.signer.wire import (
    BlockRequest,
    CollectResponse,
    OrderRefRequest,
    OrderStarted,
    ResetComplete,
    ResetQuestions,
    ResetStart,
)

router = APIRouter()


@router.post("/v1/block", responses=ERROR_RESPONSES)
def block(body: BlockRequest, k: KioskDep, signer: SignerDep) -> dict[str, Any]:
    """Block a BankID (sperre). With an orderRef, a completed login of the customer at this kiosk;
    without (phone lost) only the number, a few times an hour per kiosk (429 beyond). The answer is
    the same whether or not the number has a BankID."""
    signer.lifecycle.block_from_kiosk(k, body.personal_number, body.reason, body.order_ref)
    return {"personalNumber": body.personal_number, "blocked": True}


@router.post("/v1/reset", response_model=OrderStarted, response_model_by_alias=True, responses=ERROR_RESPONSES)
def reset_start(body: ResetStart, k: KioskDep, signer: SignerDep) -> OrderStarted:
    """Start a forgotten-password reset: the phone (or code device) approves first."""
    return signer.resets.start_reset(k, body.personal_number, body.method, body.user_visible_data)


@router.post(
    "/v1/reset/questions", response_model=ResetQuestions, response_model_by_alias=True, responses=ERROR_RESPONSES
)
def reset_questions(body: OrderRefRequest, k: KioskDep, signer: SignerDep) -> ResetQuestions:
    """The customer's control questions as codes (the kiosk words them), once the reset order is approved."""
    return ResetQuestions(order_ref=body.order_ref, questions=signer.resets.questions(k, body.order_ref))


@router.post("/v1/reset/complete", **COLLECT_ROUTE)
def reset_complete(body: ResetComplete, k: KioskDep, signer: SignerDep) -> CollectResponse:
    """The answers and the new password; unlocks a locked password."""
    return signer.resets.complete_reset(k, body.order_ref, body.answers, body.new_password)

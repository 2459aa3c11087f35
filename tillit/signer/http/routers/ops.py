"""For the operators' tools: health and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from tillit.signer.http.deps import SignerDep
from tillit.signer.metrics import CONTENT_TYPE

router = APIRouter()


@router.get(
    "/healthz",
    responses={
        503: {
            "description": "The HSM or the store is not available (the same report)",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def healthz(signer: SignerDep) -> JSONResponse:
    """Whether the HSM and the store answer, within about 2 s whatever they do (signer/health.py):
    a check still running by then is reported as not answering, and no thread waits on this request."""
    report = await signer.health()
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(signer: SignerDep) -> Response:
    """Prometheus text format: orders by outcome, request latencies, HSM signatures and errors, and
    whether the store and the HSM pass the health check; within about 2 s whatever those do."""
    return Response(signer.metrics.render(), media_type=CONTENT_TYPE)

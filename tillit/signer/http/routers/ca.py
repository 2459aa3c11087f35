"""What relying parties fetch from the CA: token keys (JWKS), certificates, CRLs, OCSP and RFC 3161
timestamps. OCSP and the TSA sign with the HSM: a few answers at a time each (`AnswerSlots`), a
flood gets 503s instead of every thread."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse

from tillit.hsm.errors import CaNotInitialised, HsmError
from tillit.hsm.ocsp_responder import ocsp_http_headers
from tillit.signer.http.deps import SignerDep
from tillit.signer.http.errors import error
from tillit.signer.http.middleware import body_limit
from tillit.signer.http.openapi import (
    CERT,
    CRL,
    OCSP_REQUEST,
    OCSP_RESPONSE,
    PEM_CHAIN,
    TIMESTAMP_QUERY,
    TIMESTAMP_REPLY,
    binary_answer,
    binary_body,
)
from tillit.signer.http.pool import blocking
from tillit.signer.service import Signer
from tillit.signer.settings import SignerSettings
from tillit.signer.wire import ErrorBody

router = APIRouter()


@dataclass(frozen=True)
class AnswerSlots:
    """How many OCSP and TSA answers the daemon signs at once (`app.state.answer_slots`)."""

    ocsp: asyncio.Semaphore
    tsa: asyncio.Semaphore

    @classmethod
    def of(cls, settings: SignerSettings) -> AnswerSlots:
        return cls(asyncio.Semaphore(settings.ocsp_concurrency), asyncio.Semaphore(settings.tsa_concurrency))


async def answer_slots(request: Request) -> AnswerSlots:
    slots: AnswerSlots = request.app.state.answer_slots
    return slots


AnswerSlotsDep = Annotated[AnswerSlots, Depends(answer_slots)]


def renew_ocsp_certificate(signer: Signer) -> None:
    """At startup (and then on use) the OCSP responder's short-lived certificate is renewed when due."""
    try:
        signer.ca.renew_ocsp_certificate_if_due()
    except CaNotInitialised:
        pass  # `tillit-hsm ca init` comes later; the responder answers nothing meanwhile
    except HsmError as e:
        logging.getLogger("tillit.ca").warning("the OCSP responder's certificate was not checked: %s", e)


def busy(what: str) -> Response:
    answer = error(503, "busy", f"the {what} is answering as many requests as it may; try again")
    answer.headers["Retry-After"] = "1"
    return answer


@router.get("/v1/keys")
def jwks(signer: SignerDep) -> dict[str, Any]:
    """The service's token-signing keys (JWKS)."""
    return signer.tokens.jwks()


@router.get(
    "/v1/ca",
    response_class=Response,
    responses={200: {"description": "PEM", "content": {PEM_CHAIN: {"schema": {"type": "string"}}}}},
)
def ca_chain(signer: SignerDep) -> PlainTextResponse:
    """The CA chain (issuing CA, root) as PEM, for people; certificates name the DER ones below."""
    return PlainTextResponse(signer.ca.chain_pem(), media_type=PEM_CHAIN)


# RFC 5280 4.2.2.1: a caIssuers URL over HTTP answers one DER certificate as application/pkix-cert.
@router.get("/v1/ca/root.cer", response_class=Response, responses={200: binary_answer("The root CA (DER)", CERT)})
def ca_root(signer: SignerDep) -> Response:
    """The root CA's certificate (DER), named by the issuing CA's caIssuers."""
    return Response(signer.ca.certificate_der("root"), media_type=CERT)


@router.get("/v1/ca/issuing.cer", response_class=Response, responses={200: binary_answer("The issuing CA (DER)", CERT)})
def ca_issuing(signer: SignerDep) -> Response:
    """The issuing CA's certificate (DER), named by the customers' caIssuers."""
    return Response(signer.ca.certificate_der("issuing"), media_type=CERT)


@router.get("/v1/crl", response_class=Response, responses={200: binary_answer("The CRL (DER)", CRL)})
def crl(signer: SignerDep) -> Response:
    """The current CRL (DER): signed anew when a certificate was revoked, else hourly."""
    return Response(signer.current_crl(), media_type=CRL)


@router.get("/v1/crl/root", response_class=Response, responses={200: binary_answer("The root's CRL (DER)", CRL)})
def root_crl(signer: SignerDep) -> Response:
    """The root's CRL (DER), named by the issuing CA's certificate."""
    return Response(signer.ca.root_crl(), media_type=CRL)


def answer_ocsp(signer: Signer, request_der: bytes) -> tuple[bytes, dict[str, str]]:
    answer = signer.ca.ocsp_response(
        request_der,
        max_cert_ids=signer.settings.ocsp_max_cert_ids,
        reuse_for=signer.settings.ocsp_cache_seconds,
    )
    return answer, ocsp_http_headers(answer)


async def ocsp_answer(signer: Signer, slots: AnswerSlots, request_der: bytes) -> Response:
    """The OCSP response with RFC 5019 caching headers; 503 with Retry-After while busy."""
    if slots.ocsp.locked():
        return busy("OCSP responder")
    async with slots.ocsp:
        answer, headers = await blocking(answer_ocsp, signer, request_der)
    return Response(answer, media_type=OCSP_RESPONSE, headers=headers)


OCSP_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: binary_answer("The OCSP response (DER), malformedRequest or unauthorized ones included", OCSP_RESPONSE),
    503: {"model": ErrorBody, "description": "Busy with other OCSP requests (Retry-After says when to retry)"},
}


@router.post(
    "/v1/ocsp",
    response_class=Response,
    responses={200: OCSP_ANSWERS[200], 413: {"model": ErrorBody}, 503: OCSP_ANSWERS[503]},
    openapi_extra=binary_body(OCSP_REQUEST, "The OCSP request (DER)"),
)
@body_limit(lambda settings: settings.ocsp_max_request_bytes)
async def ocsp(request: Request, signer: SignerDep, slots: AnswerSlotsDep) -> Response:
    """RFC 6960 OCSP (DER request in, DER response out); 503 with Retry-After while busy."""
    return await ocsp_answer(signer, slots, await request.body())


@router.get(
    "/v1/ocsp/{encoded_request:path}",
    response_class=Response,
    responses={
        200: OCSP_ANSWERS[200],
        404: {"model": ErrorBody, "description": "A path no request could be (a line break in it)"},
        414: {"model": ErrorBody, "description": "The request is longer than a POST to /v1/ocsp may be"},
        503: OCSP_ANSWERS[503],
    },
)
async def ocsp_get(encoded_request: str, signer: SignerDep, slots: AnswerSlotsDep) -> Response:
    """RFC 6960 A.1 / RFC 5019 OCSP by GET: the DER request in base64 (or base64url), URL-encoded
    or not, as the path's last part; answers as the POST does, cacheable (RFC 5019 6.2) when signed
    and without a nonce. Text that is not base64 is a malformed request."""
    longest = 4 * -(-signer.settings.ocsp_max_request_bytes // 3)  # the largest POST body's base64, padded
    if len(encoded_request) > longest:
        return error(414, "uriTooLong", f"an OCSP request is at most {longest} base64 characters")
    text = encoded_request.replace("-", "+").replace("_", "/")  # base64url (RFC 4648 5) too
    try:
        request_der = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        request_der = b""  # answered malformedRequest, as an unreadable POST body is
    return await ocsp_answer(signer, slots, request_der)


# RFC 3161 over HTTP (3.4): a few answers at a time, each one HSM signature; a flood gets 503s.
@router.post(
    "/v1/tsa",
    response_class=Response,
    responses={
        200: {"content": {TIMESTAMP_REPLY: {}}, "description": "A granted TimeStampResp (DER)"},
        400: {"content": {TIMESTAMP_REPLY: {}}, "description": "A rejection; statusString says why"},
        413: {"model": ErrorBody},
        415: {"model": ErrorBody},
        503: {"model": ErrorBody, "description": "Busy with other timestamp requests (Retry-After says when)"},
    },
    openapi_extra=binary_body(TIMESTAMP_QUERY, "The TimeStampReq (DER)"),
)
@body_limit(lambda settings: settings.tsa_max_request_bytes)
async def tsa(request: Request, signer: SignerDep, slots: AnswerSlotsDep) -> Response:
    """RFC 3161 timestamps: a DER TimeStampReq (application/timestamp-query) in, a DER
    TimeStampResp (application/timestamp-reply) out, signed by the TSA key in the HSM."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != TIMESTAMP_QUERY:
        return error(415, "unsupportedMediaType", "send a DER TimeStampReq as application/timestamp-query")
    body = await request.body()
    if slots.tsa.locked():
        return busy("TSA")
    async with slots.tsa:
        answer = await blocking(signer.documents.tsa.answer, body)
    status = 200 if answer.granted else 400
    return Response(answer.der, status_code=status, media_type=TIMESTAMP_REPLY)

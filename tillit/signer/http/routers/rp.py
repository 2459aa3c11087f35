"""The BankID RP API v6.0 face: /rp/v6.0/auth, /sign, /phone/auth, /phone/sign, /collect, /cancel
(docs/rp-api.md). Served on its own port over TLS with client certificates (`signer.http.rp_app`);
the relying party is the one whose certificate the connection presented (`relying_party`)."""

from __future__ import annotations

import ssl
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from tillit.signer import errors
from tillit.signer.http.deps import SignerDep
from tillit.signer.http.openapi import json_answer
from tillit.signer.http.pool import blocking
from tillit.signer.rp_wire import (
    AuthBody,
    Collected,
    OrderRefBody,
    PhoneAuthBody,
    PhoneSignBody,
    PhoneStarted,
    RpError,
    SignBody,
    Started,
)
from tillit.signer.service import Signer
from tillit.signer.states import OrderKind
from tillit.signer.store.records import Kiosk

PREFIX = "/rp/v6.0"
# The largest body taken: userNonVisibleData's 200,000 characters, userVisibleData's 40,000 and the rest.
RP_BODY_BYTES = 256 * 1024
# What a phone order records as the end user's address: the RP names none (the user is on the phone).
NO_END_USER_IP = "0.0.0.0"  # noqa: S104 (a placeholder in the order, not an address listened on)

RP_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": RpError} for status in (400, 401, 403, 404, 405, 408, 415, 431, 500, 503)
}


def peer_certificate(request: Request) -> bytes | None:
    """The DER of the client certificate, from the ASGI TLS extension's `client_cert_chain` (PEM,
    the client's own first) that `signer.http.rp_server` puts in each request's scope."""
    chain = request.scope.get("extensions", {}).get("tls", {}).get("client_cert_chain") or []
    return ssl.PEM_cert_to_DER_cert(chain[0]) if chain else None


async def relying_party(request: Request, signer: SignerDep) -> Kiosk:
    """The RP of the connection's client certificate (401 unauthorized for none, a foreign one or a
    revoked RP's), after the body's media type and size (415, 400) are checked."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise errors.SignerError("the body must be application/json", "unsupportedMediaType")
    if int(request.headers.get("content-length") or 0) > RP_BODY_BYTES:
        raise errors.InvalidInput(f"the body is larger than {RP_BODY_BYTES} bytes")
    return await blocking(signer.relying_parties.for_certificate, peer_certificate(request))


RelyingPartyDep = Annotated[Kiosk, Depends(relying_party)]

router = APIRouter(prefix=PREFIX, responses=RP_ERRORS)


@router.post("/auth", response_model=Started)
async def auth(body: AuthBody, rp: RelyingPartyDep, signer: SignerDep) -> Response:
    """Start an authentication order; without requirement.personalNumber the user's phone takes it
    by the animated QR code or the autostart token."""
    return json_answer(await _start(signer, rp, OrderKind.AUTH, body, body.end_user_ip, None))


@router.post("/sign", response_model=Started)
async def sign(body: SignBody, rp: RelyingPartyDep, signer: SignerDep) -> Response:
    """Start a signing order of userVisibleData (and userNonVisibleData)."""
    return json_answer(await _start(signer, rp, OrderKind.SIGN, body, body.end_user_ip, None))


@router.post("/phone/auth", response_model=PhoneStarted)
async def phone_auth(body: PhoneAuthBody, rp: RelyingPartyDep, signer: SignerDep) -> Response:
    """Start an authentication order for the person the RP is on the phone with."""
    started = await _start(signer, rp, OrderKind.AUTH, body, NO_END_USER_IP, body.personal_number)
    return json_answer(PhoneStarted(order_ref=started.order_ref))


@router.post("/phone/sign", response_model=PhoneStarted)
async def phone_sign(body: PhoneSignBody, rp: RelyingPartyDep, signer: SignerDep) -> Response:
    """Start a signing order for the person the RP is on the phone with."""
    started = await _start(signer, rp, OrderKind.SIGN, body, NO_END_USER_IP, body.personal_number)
    return json_answer(PhoneStarted(order_ref=started.order_ref))


@router.post("/collect", response_model=Collected, response_model_exclude_none=True)
async def collect(body: OrderRefBody, rp: RelyingPartyDep, signer: SignerDep) -> Response:
    """The order's status, hint code and, once complete, its completion data."""
    return json_answer(await blocking(signer.rp_orders.collect, rp, body.order_ref), exclude_none=True)


@router.post("/cancel", response_model=dict[str, str])
async def cancel(body: OrderRefBody, rp: RelyingPartyDep, signer: SignerDep) -> Response:
    """Cancel an open order: answers {}."""
    await blocking(signer.rp_orders.cancel, rp, body.order_ref)
    return Response("{}", media_type="application/json")


async def _start(
    signer: Signer, rp: Kiosk, kind: OrderKind, body: AuthBody | PhoneAuthBody, end_user_ip: str, named: str | None
) -> Started:
    requirement = body.requirement
    if requirement is not None and requirement.personal_number is not None:
        if named is not None and requirement.personal_number != named:
            raise errors.InvalidInput("requirement.personalNumber differs from personalNumber")
        named = requirement.personal_number
    started: Started = await blocking(
        lambda: signer.rp_orders.start(
            rp,
            kind,
            personal_number=named,
            end_user_ip=end_user_ip,
            visible_text=body.visible_text(),
            visible_format=body.user_visible_data_format,
            non_visible_data=body.user_non_visible_data,
        )
    )
    return started

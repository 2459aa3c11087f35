"""The routes' dependencies, as `Annotated` aliases (`SignerDep`, `KioskDep`, `StaffDep`, ...).

Each dependency that the order path (`signer.http.order_path`) may meet has its twin there, a
`Provider` that reads the same value from the raw request (`order_path_providers`), so that both
sides of an order's request get the same arguments. The kiosk's and the staff's tokens are also
checked by the front door (`signer.http.middleware`) before a large body is read: `credential_checks`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from tillit.signer import errors
from tillit.signer.device_pins import DevicePins
from tillit.signer.http.middleware import CredentialCheck
from tillit.signer.http.order_path import Call, NotPlain, Provider, SignedCall
from tillit.signer.http.pool import blocking
from tillit.signer.service import Signer
from tillit.signer.store.records import Kiosk
from tillit.signer.wire import SESSION_HEADER

# The longest a phone's long-poll (GET /v1/app/requests?wait=N) waits, in seconds.
LONG_POLL_SECONDS = 60


async def get_signer(request: Request) -> Signer:
    """The daemon's `Signer` (a coroutine: FastAPI would run a plain function in the pool)."""
    signer: Signer = request.app.state.signer
    return signer


SignerDep = Annotated[Signer, Depends(get_signer)]


# -- bearer tokens: kiosks and back-office staff ------------------------------------------------

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


def as_kiosk(signer: Signer, token: str) -> Kiosk:
    found = signer.kiosk_for_token(token)
    if found.role != "kiosk":
        raise errors.Forbidden("this token is not a kiosk's")
    return found


async def kiosk_token(signer: Signer, authorization: str | None) -> Kiosk:
    """The kiosk of an Authorization header's value: the front door, the order path and `kiosk`."""
    token = bearer(authorization)
    if signer.store.local_reads:
        return as_kiosk(signer, token)  # one indexed read that never waits: cheaper than a hop
    return await blocking(as_kiosk, signer, token)


def staff_token(signer: Signer, authorization: str | None) -> Kiosk:
    found = signer.kiosk_for_token(bearer(authorization))
    if found.role != "staff":
        raise errors.Forbidden("a staff token is required")
    return found


def header_of(credentials: Credentials) -> str | None:
    return f"{credentials.scheme} {credentials.credentials}" if credentials is not None else None


async def kiosk(signer: SignerDep, credentials: Annotated[Credentials, Security(kiosk_scheme)]) -> Kiosk:
    return await kiosk_token(signer, header_of(credentials))


def staff(signer: SignerDep, credentials: Annotated[Credentials, Security(staff_scheme)]) -> Kiosk:
    return staff_token(signer, header_of(credentials))


KioskDep = Annotated[Kiosk, Depends(kiosk)]
StaffDep = Annotated[Kiosk, Depends(staff)]


def credential_checks(signer: Signer) -> dict[Callable[..., Any], CredentialCheck]:
    """The front door's check of the Authorization header for the routes using each dependency."""
    return {kiosk: functools.partial(kiosk_token, signer), staff: functools.partial(blocking, staff_token, signer)}


# -- the customer session (agreements) ----------------------------------------------------------


def customer_session(x_tillit_session: Annotated[str | None, Header()] = None) -> str:
    if not x_tillit_session:
        raise errors.Unauthorized(f"the customer session's token is required in {SESSION_HEADER}", "sessionInvalid")
    return x_tillit_session.strip()


SessionDep = Annotated[str, Depends(customer_session)]


# -- the phone ----------------------------------------------------------------------------------


async def signed_request(request: Request) -> SignedCall:
    """The phone's request as its device key signed it (the endpoint checks the signature)."""
    return await SignedCall.of(request)


SignedRequestDep = Annotated[SignedCall, Depends(signed_request)]


async def long_poll_wait(wait: Annotated[float, Query(ge=0, le=LONG_POLL_SECONDS)] = 0) -> float:
    """`?wait=N`: how long the phone's long-poll may wait for a request, in seconds."""
    return wait


WaitDep = Annotated[float, Depends(long_poll_wait)]


async def device_pins(signer: SignerDep) -> DevicePins:
    """The app PINs' checks (signer/device_pins.py), on the signer's store."""
    return DevicePins(signer.store, signer.clock, signer.notifier, refusals=signer.device_auth.refusals)


DevicePinsDep = Annotated[DevicePins, Depends(device_pins)]


# -- the same values on the order path ----------------------------------------------------------


def order_path_providers(signer: Signer) -> dict[Callable[..., Any], Provider]:
    """Each dependency the order path's routes use, read from the raw request as FastAPI would."""

    async def the_signer(call: Call) -> Signer:
        return signer

    async def the_kiosk(call: Call) -> Kiosk:
        return await call.kiosk()

    async def the_signed_request(call: Call) -> SignedCall:
        return call.signed()

    async def the_wait(call: Call) -> float:
        wait = call.wait_seconds(LONG_POLL_SECONDS)
        if wait is None:
            raise NotPlain
        return wait

    return {get_signer: the_signer, kiosk: the_kiosk, signed_request: the_signed_request, long_poll_wait: the_wait}

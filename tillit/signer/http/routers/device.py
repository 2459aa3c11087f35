"""The phone's routes: activating the app, then every request signed by its device key (or its
unlock key): the long-poll for requests, the decision on one, its settings and its app PIN."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import time
from typing import Any, TypeVar

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from tillit.signer import errors
from tillit.signer.deactivation import deactivation_reason
from tillit.signer.device_pins import WrongPin
from tillit.signer.http.deps import DevicePinsDep, SignedRequestDep, SignerDep, WaitDep
from tillit.signer.http.errors import validation_reason
from tillit.signer.http.middleware import body_limit
from tillit.signer.http.openapi import ERROR_RESPONSES, device_signed, json_answer
from tillit.signer.http.order_path import SignedCall, on_order_path
from tillit.signer.http.pool import blocking
from tillit.signer.service import Signer
from tillit.signer.store.records import Device
from tillit.signer.wire import (
    AUTOSTART_PATH,
    PIN_PATH,
    SCAN_PATH,
    UNLOCK_PATH,
    ActivationComplete,
    ActivationStart,
    AppDecision,
    AppRequest,
    AppRequests,
    AppSettings,
    AutostartRequest,
    CollectResponse,
    ErrorBody,
    PhonePassword,
    PinRefusal,
    PinRegistration,
    ScanRequest,
    UnlockGranted,
    UnlockRequest,
)

# The largest body of a phone's signed request (a decision, the app's settings): a few hundred bytes.
DEVICE_BODY_BYTES = 4096

router = APIRouter()
M = TypeVar("M", bound=BaseModel)


def signed_body(signer: Signer, call: SignedCall, model: type[M], code: str | None = None) -> tuple[Device, M]:
    """The device that signed `call` (active or not) and the body read as `model`; a request the
    device did not sign answers 401 before a body the model refuses answers 400 (with `code`)."""
    dev = signer.authenticate_device(call.method, call.path, call.body, call.headers, False)
    try:
        return dev, model.model_validate_json(call.body)
    except ValidationError as e:
        raise errors.InvalidInput(validation_reason(e), code) from None


@router.post("/v1/app/activations", status_code=201, responses=ERROR_RESPONSES)
def activation_start(body: ActivationStart, signer: SignerDep) -> dict[str, Any]:
    """Start activating the app on this phone (codedevice, sms-email or old-device)."""
    return signer.activations.start(body.personal_number, body.method, body.device_name, body.public_key)


@router.post(
    "/v1/app/activations/{activation_id}/complete",
    responses={
        **ERROR_RESPONSES,
        410: {"model": ErrorBody, "description": "activationEnded: expired, or too many wrong codes"},
    },
)
def activation_complete(activation_id: str, body: ActivationComplete, signer: SignerDep) -> dict[str, Any]:
    """Finish activation with the codes (or the old phone's approval) and the password."""
    return signer.activations.complete(
        activation_id, body.proof, body.password, body.sms_code, body.email_code, body.code
    )


@router.get(
    "/v1/app/requests",
    response_model=AppRequests,
    response_model_by_alias=True,
    responses=ERROR_RESPONSES,
    openapi_extra=device_signed(),
)
@on_order_path
async def app_requests(call: SignedRequestDep, signer: SignerDep, wait: WaitDep) -> Response:
    """Pending requests for this device; waits up to `wait` seconds for one to arrive. A device no longer
    active gets none, and `deviceStatus` "deactivated" with its `deactivatedReason`."""
    dev = await blocking(signer.authenticate_device, call.method, call.path, call.body, call.headers, True)
    if dev.status != "active":
        return await blocking(deactivated_answer, signer, dev.id)
    deadline = time.monotonic() + wait
    waiter = signer.notifier.subscribe(dev.id)
    try:
        while True:
            waiter[1].clear()
            # Reads only: on the loop with SQLite, so a woken phone does not queue for the pool.
            found, still_active = signer.poll(dev) if signer.store.local_reads else await blocking(signer.poll, dev)
            if not still_active:
                return await blocking(deactivated_answer, signer, dev.id)
            remaining = deadline - time.monotonic()
            if found or remaining <= 0 or signer.notifier.draining:
                return json_answer(AppRequests(requests=found, device_status="active"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter[1].wait(), remaining)
    finally:
        signer.notifier.unsubscribe(dev.id, waiter)


def deactivated_answer(signer: Signer, device_id: str) -> Response:
    """The long-poll's answer to a device no longer active, saying why (only to the device: it signed the request)."""
    with signer.store.read() as tx:
        device = tx.device(device_id)
        assert device is not None  # devices are never deleted
        why = deactivation_reason(tx, device)
    return json_answer(AppRequests(requests=[], device_status="deactivated", deactivated_reason=why))


@router.post(
    "/v1/app/requests/{order_ref}",
    response_model=dict[str, str],
    responses={**ERROR_RESPONSES, 410: {"model": ErrorBody, "description": "expired: the order's time is up"}},
    openapi_extra=device_signed(AppDecision),
)
@body_limit(DEVICE_BODY_BYTES)
@on_order_path
async def app_decide(order_ref: str, call: SignedRequestDep, signer: SignerDep) -> Response:
    """Approve ("Ja, det er meg") or decline ("Nei, avvis"), signed over the challenge."""

    def decide() -> str:  # the device's signature, then the decision: one hop to the pool
        checked = signer.check_device_request(call.method, call.path, call.body, call.headers)
        try:
            body = AppDecision.model_validate_json(call.body)
            signature = base64.b64decode(body.signature, validate=True)
        except ValidationError as e:
            signer.settle_device_request(checked)  # a refused signature answers 401 before any 400
            raise errors.InvalidInput(validation_reason(e)) from None
        except (binascii.Error, ValueError):
            signer.settle_device_request(checked)
            raise errors.InvalidInput("the signature is not valid base64") from None
        return signer.decide_request(checked, order_ref, body.decision, signature, body.biometric)

    decided = await blocking(decide)
    return Response(f'{{"orderRef":{json.dumps(order_ref)},"decision":"{decided}"}}', media_type="application/json")


# -- orders from the RP API face (signer/orders/rp_claims.py) ----------------------------------


@router.post(
    SCAN_PATH,
    response_model=AppRequest,
    responses={**ERROR_RESPONSES, 410: {"model": ErrorBody, "description": "qrExpired: a stale QR code"}},
    openapi_extra=device_signed(ScanRequest),
)
@body_limit(DEVICE_BODY_BYTES)
async def app_scan(call: SignedRequestDep, signer: SignerDep) -> Response:
    """Take the order of a scanned animated QR code (checked here: its HMAC and its age): 400
    `invalidQr`, 410 `qrExpired`, 404 `notFound`, 409 `alreadyClaimed`, 403 `wrongCustomer`."""

    def scan() -> AppRequest:
        dev, body = signed_body(signer, call, ScanRequest, "invalidQr")
        return signer.rp_claims.scan(dev, body.qr_content)

    return json_answer(await blocking(scan))


@router.post(
    AUTOSTART_PATH,
    response_model=AppRequest,
    responses=ERROR_RESPONSES,
    openapi_extra=device_signed(AutostartRequest),
)
@body_limit(DEVICE_BODY_BYTES)
async def app_autostart(call: SignedRequestDep, signer: SignerDep) -> Response:
    """Take the order of an autostart token (the app started on the device the user is on)."""

    def autostart() -> AppRequest:
        dev, body = signed_body(signer, call, AutostartRequest)
        return signer.rp_claims.autostart(dev, body.auto_start_token)

    return json_answer(await blocking(autostart))


@router.post(
    "/v1/app/requests/{order_ref}/password",
    response_model=CollectResponse,
    response_model_exclude_none=True,
    responses=ERROR_RESPONSES,
    openapi_extra=device_signed(PhonePassword),
)
@body_limit(DEVICE_BODY_BYTES)
async def app_password(order_ref: str, call: SignedRequestDep, signer: SignerDep) -> Response:
    """The password of an approved order whose `passwordBy` is phone: the kiosk's check (the same
    Argon2id, failure count and lock), answered as /v1/password answers the kiosk. 403 from any
    device but the one that approved; 409 `passwordAtKiosk` for a kiosk's order."""

    def check() -> CollectResponse:
        dev, body = signed_body(signer, call, PhonePassword)
        return signer.rp_claims.password(dev, order_ref, body.password)

    return json_answer(await blocking(check), exclude_none=True)


@router.post(
    "/v1/app/settings",
    response_model=AppSettings,
    responses=ERROR_RESPONSES,
    openapi_extra=device_signed(AppSettings),
)
@body_limit(DEVICE_BODY_BYTES)
async def app_settings(call: SignedRequestDep, signer: SignerDep) -> AppSettings:
    """The app's settings the signer must know: login without password on or off."""

    def apply() -> AppSettings:
        dev, body = signed_body(signer, call, AppSettings)
        return AppSettings(biometric=signer.set_biometric(dev, body.biometric))

    return await blocking(apply)


# -- the app PIN, checked here (signer/device_pins.py) -------------------------------------------


@router.post(PIN_PATH, status_code=201, responses=ERROR_RESPONSES, openapi_extra=device_signed(PinRegistration))
async def app_pin(call: SignedRequestDep, signer: SignerDep, pins: DevicePinsDep) -> dict[str, Any]:
    """Register the app PIN's verifier, the unlock key and the wrap secret (once, signed by the device key)."""

    def register() -> dict[str, Any]:
        dev, body = signed_body(signer, call, PinRegistration)
        pins.register(dev, body)
        return {"deviceId": dev.id, "attempts": pins.attempts}

    return await blocking(register)


@router.post(
    UNLOCK_PATH,
    response_model=UnlockGranted,
    # 401: a wrong PIN (PinRefusal, with the attempts left), or a request the unlock key did not sign.
    responses={**ERROR_RESPONSES, 401: {"model": PinRefusal | ErrorBody}},
    openapi_extra=device_signed(UnlockRequest, key="unlock key"),
)
async def app_unlock(call: SignedRequestDep, pins: DevicePinsDep) -> Response:
    """The app PIN, checked (signed by the unlock key): the wrap secret, or 401 `wrongPin` with the
    attempts left; the last wrong PIN locks the device (403 `deviceLocked`)."""
    try:
        granted = await blocking(pins.unlock, call.method, call.path, call.body, call.headers)
    except WrongPin as e:
        refused = PinRefusal(error=e.code, reason=e.reason, attempts_left=e.attempts_left)
        return JSONResponse(refused.model_dump(by_alias=True), status_code=e.status)
    return json_answer(granted)

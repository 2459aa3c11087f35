"""How the routes describe themselves in the OpenAPI document, and the answers they send as is."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import BaseModel

from tillit.signer.wire import (
    DEVICE_HEADER,
    NONCE_HEADER,
    REQUEST_SKEW_SECONDS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    CollectResponse,
    ErrorBody,
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

# Endpoints that answer with an order's state, as /v1/collect does.
COLLECT_ROUTE: dict[str, Any] = {
    "response_model": CollectResponse,
    "response_model_by_alias": True,
    "response_model_exclude_none": True,
    "responses": ERROR_RESPONSES,
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
    {error, reason}: `signer.http.errors.validation_error`), and on every operation the refusals of
    the front door (`signer.http.middleware`: 400 for a bad Content-Length, 408 for a head or body
    that did not all arrive in time, 413 for a body over the route's limit) and of the protocol
    (`signer.http.protocol`: 431 for a head over `request_head_bytes`)."""
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status, text in (
                ("400", "Malformed request"),
                ("408", "The request's head or body did not all arrive in time"),
                ("413", "The body is larger than the route takes"),
                ("431", "The request's line and headers are longer than the daemon takes"),
            ):
                responses.setdefault(status, {"description": text, "content": {"application/json": {"schema": error}}})
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def json_answer(model: BaseModel, exclude_none: bool = False) -> Response:
    """A wire model as the response body. The route's `response_model` documents the shape; a
    `Response` returned as is spares FastAPI validating the model again and encoding it its own way."""
    return Response(model.model_dump_json(by_alias=True, exclude_none=exclude_none), media_type="application/json")

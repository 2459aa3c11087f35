"""Real answers checked against the daemon's own /openapi.json with schemathesis' response checks:
the status is documented, the media type is one the status documents, and a JSON body validates
against the documented schema."""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]

# The binary request bodies (DER) the daemon documents: sent as the raw bytes schemathesis generates.
schemathesis.serializer.alias(["application/ocsp-request", "application/timestamp-query"], "application/octet-stream")


def load(url: str) -> Any:
    """The daemon's OpenAPI document as schemathesis reads it."""
    return schemathesis.openapi.from_url(url + "/openapi.json")


def problems(schema: Any, response: httpx.Response, case: Any | None = None) -> list[str]:
    """Why `response` does not match the document (nothing when it does). `case` is the generated
    case that made the request; without one, the operation is found by the request's method and path."""
    request = response.request
    where = f"{request.method} {request.url.path} -> {response.status_code}"
    if case is None:
        operation = schema.find_operation_by_path(request.method, request.url.path)
        if operation is None:
            return [f"{where}: no such operation in the document"]
        case = operation.Case(method=request.method)
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as group:  # every failed check
        return [f"{where}: {_one_line(failure)}" for failure in group.exceptions]
    except AssertionError as failure:
        return [f"{where}: {_one_line(failure)}"]
    return []


def _one_line(failure: BaseException) -> str:
    return " ".join(str(failure).split())[:600]


__all__ = ["CHECKS", "load", "problems"]

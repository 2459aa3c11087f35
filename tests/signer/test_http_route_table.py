"""One route table: the front door's body limits and the order path's routes are read from the routes
FastAPI serves (`signer.http.app.served_routes`), the routers' included, never registered twice.

Built from the daemon's own routers without a signer: nothing here answers a request. That the order
path's answers agree with FastAPI's on the real daemon is tests/integration/test_order_path.py; that
the limits hold against hostile bodies, tests/proofs/test_bounded_input.py.
"""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Response

from tillit.signer.http import deps
from tillit.signer.http.app import ROUTERS, served_routes
from tillit.signer.http.middleware import RouteRules
from tillit.signer.http.order_path import on_order_path, order_routes
from tillit.signer.http.routers.device import DEVICE_BODY_BYTES
from tillit.signer.settings import SignerSettings


def daemon_routes() -> FastAPI:
    app = FastAPI()
    for router in ROUTERS:
        app.include_router(router)
    return app


def test_the_order_path_takes_the_seven_order_routes_from_fastapis_table() -> None:
    app = daemon_routes()
    fast = order_routes(served_routes(app), deps.order_path_providers(None))  # type: ignore[arg-type]
    assert [(route.method, route.path) for route in fast] == [
        ("POST", "/v1/auth"),
        ("POST", "/v1/sign"),
        ("POST", "/v1/collect"),
        ("POST", "/v1/password"),
        ("GET", "/v1/orders/{order_ref}/documents/{index}"),
        ("GET", "/v1/app/requests"),
        ("POST", "/v1/app/requests/{order_ref}"),
    ]
    served = {
        (method, getattr(route, "path", "")) for route in served_routes(app) for method in getattr(route, "methods", ())
    }
    assert {(route.method, route.path) for route in fast} <= served


def test_body_limits_come_from_the_included_routers() -> None:
    settings = SignerSettings()
    rules = RouteRules.of(served_routes(daemon_routes()), settings, deps.credential_checks(None))  # type: ignore[arg-type]

    def limit(method: str, path: str) -> int:
        rule = rules.find(method, path)
        assert rule is not None, (method, path)
        return rule.limit

    assert limit("POST", "/v1/sign") == settings.max_body_bytes
    assert limit("POST", "/v1/agreements") == settings.max_body_bytes
    assert limit("POST", "/v1/ocsp") == settings.ocsp_max_request_bytes
    assert limit("POST", "/v1/tsa") == settings.tsa_max_request_bytes
    assert limit("POST", "/v1/app/requests/r1") == DEVICE_BODY_BYTES
    assert limit("POST", "/v1/collect") == settings.max_json_body_bytes
    assert limit("GET", "/v1/keys") == 0
    assert rules.find("POST", "/v1/nowhere") is None
    bearer_checked = rules.find("POST", "/v1/collect")
    assert bearer_checked is not None and bearer_checked.credential is not None
    activation = rules.find("POST", "/v1/app/activations")
    assert activation is not None and activation.credential is None


# Endpoints marked for the order path that it could not call as FastAPI would (module-level: FastAPI
# reads their annotations by name).
unfit = APIRouter()


def unknown_dependency() -> str:
    return "x"


@unfit.get("/header")
@on_order_path
async def with_header(x_thing: Annotated[str, Header()]) -> Response:
    return Response()


@unfit.get("/unknown-dependency")
@on_order_path
async def with_unknown_dependency(thing: Annotated[str, Depends(unknown_dependency)]) -> Response:
    return Response()


@unfit.get("/plain-function")  # type: ignore[type-var]
@on_order_path
def plain_function() -> Response:
    return Response()


@unfit.get("/float/{value}")
@on_order_path
async def float_parameter(value: float) -> Response:
    return Response()


@unfit.get("/model-answer")  # type: ignore[type-var]
@on_order_path
async def model_answer() -> dict[str, str]:
    return {}


def test_an_endpoint_the_order_path_cannot_call_as_fastapi_would_is_refused_when_the_app_is_built() -> None:
    assert len(unfit.routes) == 5
    for route in unfit.routes:
        with pytest.raises(ValueError):
            order_routes([route], deps.order_path_providers(None))  # type: ignore[arg-type]

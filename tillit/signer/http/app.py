"""The daemon's ASGI app: FastAPI with the routers of `signer.http.routers`, behind the front door
(`signer.http.middleware.BodyLimits`) and the order path (`signer.http.order_path`), both derived
from FastAPI's own route table."""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio.to_thread
import fastapi.routing
from fastapi import FastAPI
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from tillit.hsm.errors import HsmError
from tillit.signer import cpus, errors, testhooks
from tillit.signer.audit.chain import AuditBroken
from tillit.signer.http import deps
from tillit.signer.http.errors import EXCEPTION_HANDLERS, refusal
from tillit.signer.http.middleware import BodyDeadline, BodyLimits, RouteRules
from tillit.signer.http.openapi import describe_refusals
from tillit.signer.http.order_path import OrderPath, order_routes
from tillit.signer.http.pool import blocking
from tillit.signer.http.routers import branch, ca, device, lifecycle, ops, orders
from tillit.signer.metrics import Metrics
from tillit.signer.service import Signer

T = TypeVar("T")

# The API's areas, in the order the OpenAPI document lists their paths.
ROUTERS = (orders.router, lifecycle.router, branch.router, device.router, ca.router, ops.router)


class TillitApp(FastAPI):
    """FastAPI behind the daemon's own front door (`front`): each route's body limit and the latency
    metric (`BodyLimits`), then the order path (`OrderPath`), and only then FastAPI's middleware
    stack, which an order's requests would otherwise pass layer by layer before reaching the router."""

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await (self.front or self.fastapi)(scope, receive, send)

    async def fastapi(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document, once, with the refusals as the daemon answers them (`describe_refusals`)."""
        if self.openapi_schema is None:
            self.openapi_schema = describe_refusals(super().openapi())
        return self.openapi_schema


async def every(seconds: float, work: Callable[[], T], log: logging.Logger, what: str) -> AsyncIterator[T]:
    """`work`'s result every `seconds`, run on the pool; a run that fails is logged as `what` failing
    and tried again next time (the daemon must not stop for it)."""
    while True:
        await asyncio.sleep(seconds)
        try:
            yield await blocking(work)
        except Exception as e:
            log.warning("%s failed: %s", what, e)


async def sweep_store(signer: Signer) -> None:
    """Run the store's retention sweep (`signer.retention`) every `maintenance_interval_seconds`."""
    log = logging.getLogger("tillit.retention")
    interval = signer.settings.maintenance_interval_seconds
    async for report in every(interval, signer.retention.sweep, log, "the store's retention sweep"):
        if report.expired_orders or report.purged_orders:
            log.info(
                "retention: %d abandoned orders expired, %d orders' documents deleted",
                report.expired_orders,
                report.purged_orders,
            )


async def sweep_leases(signer: Signer) -> None:
    """Take over other instances' expired leases (`signer.leases`) every third of `lease_seconds`
    (or `maintenance_interval_seconds` when shorter), so that an order whose instance died is
    resumed at most that long after its lease ran out."""
    log = logging.getLogger("tillit.leases")
    interval = min(signer.settings.lease_seconds / 3, signer.settings.maintenance_interval_seconds)
    async for taken in every(interval, signer.take_over_expired, log, "the sweep for expired leases"):
        if taken:
            log.warning("took over %d orders of other instances whose lease ran out", taken)


async def sweep_audit(signer: Signer) -> None:
    """Sign an audit checkpoint every `audit_checkpoint_seconds` while entries wait for one."""
    log = logging.getLogger("tillit.audit")
    async for _ in every(signer.settings.audit_checkpoint_seconds, signer.audit_log.cover_head, log, "the audit sweep"):
        pass


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The worker pool and the sweeps (retention, expired leases, audit checkpoints by time) while the daemon serves;
    at a clean stop, the audit log's head signed (a checkpoint), so that a later truncation is detectable."""
    signer: Signer = app.state.signer
    workers = signer.settings.worker_threads
    if signer.settings.pin_request_path:
        # Before the pool's threads exist: they start from this thread and take its CPU.
        cpus.pin_request_path()
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(signer.settings.gil_switch_interval_ms / 1000)
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tillit-worker"))
    # The remaining `def` endpoints run on anyio's pool (40 threads by default): the same bound.
    anyio.to_thread.current_default_thread_limiter().total_tokens = workers
    sweepers = [asyncio.create_task(sweep_store(signer)), asyncio.create_task(sweep_leases(signer))]
    if signer.settings.audit_checkpoint_seconds > 0:
        sweepers.append(asyncio.create_task(sweep_audit(signer)))
    try:
        yield
    finally:
        for sweeper in sweepers:
            sweeper.cancel()
        sys.setswitchinterval(switch_interval)
    try:
        signer.audit_log.checkpoint("shutdown")
    except (HsmError, errors.Unavailable) as e:  # the HSM or the database away: a warning, not a traceback
        logging.getLogger("tillit.audit").warning("no audit checkpoint at shutdown: %s", e)
    except AuditBroken as e:  # the database no longer extends the anchor in the HSM
        logging.getLogger("tillit.audit").error("audit checkpoint refused at shutdown, nothing signed: %s", e)


def observe_latency(metrics: Metrics, scope: Scope, status: int, seconds: float) -> None:
    """The latency metric, by route template (the front door, `BodyLimits`, reports every request)."""
    label = getattr(scope.get("route"), "path", "unmatched")
    metrics.http_seconds.labels(scope["method"], label, f"{status // 100}xx").observe(seconds)


def served_routes(app: FastAPI) -> list[BaseRoute]:
    """Every route `app` serves, in the order it tries them, the routers' included. FastAPI 0.165
    keeps an included router as one entry of `app.routes` (`iter_route_contexts` opens it); older
    versions copied its routes there."""
    if not hasattr(fastapi.routing, "iter_route_contexts"):
        return list(app.routes)
    return [context.original_route for context in fastapi.routing.iter_route_contexts(app.routes)]


def create_app(signer: Signer) -> TillitApp:
    """The daemon's app for `signer`: the routers in the order the OpenAPI document lists them, the
    test hooks when enabled, then the front door and the order path over FastAPI's route table."""
    app = TillitApp(
        title="Tillit signer",
        version="1",
        description="BankID-style login and signing with keys in a PKCS#11 HSM.",
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
        # No 307 from /v1/collect/ to /v1/collect: its Location was built from the request's Host
        # header, whatever a client put there. A path with a slash too many is a 404 like any other.
        redirect_slashes=False,
    )
    app.state.signer = signer
    app.state.answer_slots = ca.AnswerSlots.of(signer.settings)
    for router in ROUTERS:
        app.include_router(router)
    ca.renew_ocsp_certificate(signer)
    signer.documents  # noqa: B018 (built now, with pyHanko's import, rather than in the first sign order)
    if testhooks.enabled():
        testhooks.install(app, signer)

    answer_refusal = functools.partial(refusal, signer.metrics)
    routes = served_routes(app)
    rules = RouteRules.of(routes, signer.settings, deps.credential_checks(signer))
    fast_routes = order_routes(routes, deps.order_path_providers(signer))
    kiosk_for = functools.partial(deps.kiosk_token, signer)
    order_path = OrderPath(app.fastapi, kiosk_for=kiosk_for, refusal=answer_refusal, routes=fast_routes)
    app.front = BodyLimits(
        order_path,
        rules,
        refusal=answer_refusal,
        observe=functools.partial(observe_latency, signer.metrics),
        body_deadline=BodyDeadline.of(signer.settings),
    )
    return app

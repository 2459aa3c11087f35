"""Prometheus metrics. Order counts by outcome are read from the store at scrape time, so they are
exact, survive restarts and agree across instances; latencies and HSM figures are per process.

A scrape never waits on the store or the HSM longer than `HEALTH_SECONDS`: the order counts and the
health checks behind `tillit_store_up` and `tillit_hsm_up` run in threads of their own
(signer/health.py), and what has not answered by then is left out or reported down. The process's
own counters are always there."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from tillit.hsm.client import Hsm
from tillit.signer.health import HEALTH_SECONDS, Health, SingleFlight, wait
from tillit.signer.passwords import Passwords
from tillit.signer.store.base import Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def count_orders(store: Store) -> list[tuple[Any, ...]]:
    """(kind, status, hint code, count) of every group of orders in the store."""
    with store.tx() as tx:
        rows = tx.execute("SELECT kind, status, hint_code, COUNT(*) FROM orders GROUP BY kind, status, hint_code")
        return list(rows.fetchall())


def answered(run: Future[Any]) -> bool:
    """Whether a run has finished, without an error."""
    return run.done() and run.exception() is None


def up_gauge(name: str, what: str, check: Future[None]) -> GaugeMetricFamily:
    """1 if `check` succeeded in time, else 0."""
    gauge = GaugeMetricFamily(
        name,
        f"1 if {what} passed this scrape's health check (the one /healthz runs) within {HEALTH_SECONDS:g} s, else 0.",
    )
    gauge.add_metric([], 1.0 if answered(check) else 0.0)
    return gauge


class _StoreCollector(Collector):
    def __init__(
        self,
        store: Store,
        hsm: Hsm,
        passwords: Passwords,
        health: Health,
        certificate_ends: Callable[[], dict[str, datetime]],
    ) -> None:
        self.hsm = hsm
        self.passwords = passwords
        self.health = health
        self.orders_count = SingleFlight("the order count for /metrics", lambda: count_orders(store))
        self.certificate_ends = SingleFlight("the certificates' ends for /metrics", certificate_ends)

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        hsm_check, store_check = self.health.start()
        counted = self.orders_count.start()
        ends = self.certificate_ends.start()
        wait([hsm_check, store_check, counted, ends], HEALTH_SECONDS)
        yield up_gauge("tillit_store_up", "the store", store_check)
        yield up_gauge("tillit_hsm_up", "the HSM", hsm_check)
        if answered(counted):  # else left out of this scrape rather than made up
            orders = GaugeMetricFamily(
                "tillit_orders",
                f"Orders by kind, state and hint code (outcome); left out of a scrape when the store"
                f" did not answer within {HEALTH_SECONDS:g} s.",
                labels=["kind", "status", "hint"],
            )
            for kind, status, hint, count in counted.result():
                orders.add_metric([str(kind), str(status), str(hint)], float(count))
            yield orders
        if answered(ends):  # a CA not set up yet, or the HSM slow: left out
            expiry = GaugeMetricFamily(
                "tillit_certificate_expiry_timestamp_seconds",
                "When each certificate the daemon signs under ends (notAfter, Unix time): the root and issuing"
                " CAs, the OCSP responder (renewed by the daemon) and the timestamp authority. No signature is"
                " made, and none validates, past the CAs' and the TSA's: alert well before.",
                labels=["certificate"],
            )
            for name, end in ends.result().items():
                expiry.add_metric([name], end.timestamp())
            yield expiry
        signatures = CounterMetricFamily("tillit_hsm_signatures", "Signatures this process asked the HSM for.")
        signatures.add_metric([], float(self.hsm.signatures))
        yield signatures
        by_key = CounterMetricFamily(
            "tillit_hsm_key_signatures",
            "Signatures this process asked the HSM for, by key (customer keys together as `customer`).",
            labels=["key"],
        )
        for kind, count in sorted(self.hsm.signatures_by_key().items()):
            by_key.add_metric([kind], float(count))
        yield by_key
        passwords = self.passwords
        computations = CounterMetricFamily("tillit_argon2_computations", "Argon2id hashes and verifications.")
        computations.add_metric([], float(passwords.computations))
        yield computations
        cpu = CounterMetricFamily("tillit_argon2_cpu_seconds", "CPU time spent in Argon2id computations.")
        cpu.add_metric([], passwords.cpu_seconds)
        yield cpu


class Metrics:
    """The daemon's Prometheus registry. Its `tillit_*_up` gauges join the process's `health` checks,
    the ones /healthz runs, so that at most one check of each kind runs at a time."""

    def __init__(
        self,
        store: Store,
        hsm: Hsm,
        passwords: Passwords,
        health: Health,
        certificate_ends: Callable[[], dict[str, datetime]],
    ) -> None:
        """`certificate_ends` gives when each certificate the daemon signs under ends (read in a thread
        of its own at each scrape, as the order counts are)."""
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_StoreCollector(store, hsm, passwords, health, certificate_ends))
        self.http_seconds = Histogram(
            "tillit_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.hsm_errors = Counter("tillit_hsm_errors", "HSM operations that failed.", registry=self.registry)
        self.password_failures = Counter(
            "tillit_password_failures", "Wrong passwords (all customers).", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

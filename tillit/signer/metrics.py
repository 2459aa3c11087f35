"""Prometheus metrics. Order counts by outcome are read from the store at scrape time, so they are
exact, survive restarts and agree across instances; latencies and HSM figures are per process."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from tillit.hsm.client import Hsm
from tillit.signer.passwords import Passwords
from tillit.signer.store.base import Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _StoreCollector(Collector):
    def __init__(self, store: Store, hsm: Hsm, passwords: Passwords) -> None:
        self.store = store
        self.hsm = hsm
        self.passwords = passwords

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        orders = GaugeMetricFamily(
            "tillit_orders", "Orders by kind, state and hint code (outcome).", labels=["kind", "status", "hint"]
        )
        with self.store.tx() as tx:
            rows = tx.execute("SELECT kind, status, hint_code, COUNT(*) FROM orders GROUP BY kind, status, hint_code")
            for kind, status, hint, count in rows.fetchall():
                orders.add_metric([str(kind), str(status), str(hint)], float(count))
        yield orders
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
    def __init__(self, store: Store, hsm: Hsm, passwords: Passwords) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_StoreCollector(store, hsm, passwords))
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

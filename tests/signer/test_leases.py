"""The instance id an instance records in the orders it runs, and the renewal of its leases while it
runs them (tillit/signer/leases.py)."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from tests.store import builders as b
from tillit.signer.leases import INSTANCE_FILE, LeaseKeeper, instance_id
from tillit.signer.store.base import Store
from tillit.signer.store.records import Order
from tillit.signer.store.sqlite import SqliteStore
from tillit.signer.store.tx import Tx

LEASE = 30.0


def test_one_id_per_home_made_once_and_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ThreadPoolExecutor(8) as pool:  # started together, they agree on the first one written
        ids = set(pool.map(lambda _: instance_id(None, home), range(32)))
    assert len(ids) == 1 and all(ids)
    assert instance_id(None, home) in ids
    assert (home / INSTANCE_FILE).stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in home.iterdir()) == [INSTANCE_FILE]  # no draft left behind
    assert instance_id(None, tmp_path / "another-home") not in ids


def test_the_setting_wins_over_the_file(tmp_path: Path) -> None:
    instance_id(None, tmp_path)
    assert instance_id("signer-b", tmp_path) == "signer-b"


class Clock:
    def __init__(self) -> None:
        self.at = b.T0

    def __call__(self) -> float:
        return self.at


def running_order(store: SqliteStore, runner: str = "a") -> Order:
    k, c = b.kiosk(), b.customer()
    order = b.order(k.id, c.id, status="signing", runner=runner, lease_until=b.T0 + LEASE)
    with store.tx() as tx:
        tx.insert_kiosk(k)
        tx.insert_customer(c)
        tx.insert_order(order)
    return order


def lease_until(store: SqliteStore, ref: str) -> float | None:
    with store.read() as tx:
        found = tx.order(ref)
    assert found is not None
    return found.lease_until


def test_a_held_lease_is_renewed_every_third_of_it_and_no_longer_once_released(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, clock = SqliteStore(tmp_path / "signer.db"), Clock()
    keeper = LeaseKeeper(store, clock, "a", LEASE)
    order = running_order(store)
    try:
        with keeper.holding(order.ref):
            clock.at += LEASE / 3 - 1
            assert keeper.renew_due() == []  # not due yet: a quick run is never written to
            clock.at += 1
            assert keeper.renew_due() == [order.ref]
            assert lease_until(store, order.ref) == clock.at + LEASE
            assert f"order {order.ref} still running after 10 s" in caplog.text  # what operators see
            with keeper.holding(order.ref):  # held twice (a resume inside a check): released once
                pass
            clock.at += LEASE / 3
            assert keeper.renew_due() == [order.ref]
        clock.at += LEASE
        assert keeper.renew_due() == []
        assert lease_until(store, order.ref) == b.T0 + 2 * LEASE / 3 + LEASE
    finally:
        keeper.close()
        store.close()


def test_a_lease_taken_over_is_not_renewed_again(tmp_path: Path) -> None:
    store, clock = SqliteStore(tmp_path / "signer.db"), Clock()
    keeper = LeaseKeeper(store, clock, "a", LEASE)
    order = running_order(store, runner="b")  # another instance took it over meanwhile
    try:
        with keeper.holding(order.ref):
            clock.at += LEASE / 3
            assert keeper.renew_due() == []
            with store.tx() as tx:  # ... even were it to become this instance's again
                assert tx.take_over(order.ref, "signing", "a", clock.at + LEASE, clock.at + 2 * LEASE)
            clock.at += LEASE
            assert keeper.renew_due() == []
    finally:
        keeper.close()
        store.close()


class FlakyStore(Store):
    """A real SQLite store that refuses every transaction while `down`, as a database gone away."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.down = True

    def tx(self) -> AbstractContextManager[Tx]:
        if self.down:
            raise sqlite3.OperationalError("unable to open database file")
        return self.store.tx()


def test_a_renewal_the_database_refuses_is_tried_again_at_the_next_wake_up(tmp_path: Path) -> None:
    store, clock = SqliteStore(tmp_path / "signer.db"), Clock()
    order = running_order(store)
    flaky = FlakyStore(store)
    keeper = LeaseKeeper(flaky, clock, "a", LEASE)
    try:
        with keeper.holding(order.ref):
            clock.at += LEASE / 3
            assert keeper.renew_due() == []  # logged, not raised: the run goes on
            flaky.down = False
            assert keeper.renew_due() == [order.ref]  # still due: tried again
        assert lease_until(store, order.ref) == clock.at + LEASE
    finally:
        keeper.close()
        store.close()

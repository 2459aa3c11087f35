"""Waking long-polls: the in-process `Notifier`, and LISTEN/NOTIFY between instances over PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import psycopg
import pytest

from tests.store import builders as b
from tests.store.conftest import Backend
from tillit.signer.push import Notifier
from tillit.signer.runtime import open_store
from tillit.signer.settings import SignerSettings
from tillit.signer.store.postgres import PostgresStore
from tillit.signer.store.sqlite import SqliteStore

# -- one process ----------------------------------------------------------------------------------------


def test_notify_wakes_the_waiters_of_that_key_only() -> None:
    notifier = Notifier()

    async def main() -> None:
        mine, other = notifier.subscribe("dev-1"), notifier.subscribe("dev-2")
        await asyncio.to_thread(notifier.notify, "dev-1")  # from a worker thread, as the service does
        await asyncio.wait_for(mine[1].wait(), 5)
        assert not other[1].is_set()
        notifier.unsubscribe("dev-1", mine)
        mine[1].clear()
        notifier.notify("dev-1")
        await asyncio.sleep(0)
        assert not mine[1].is_set()
        notifier.notify_all()
        await asyncio.wait_for(other[1].wait(), 5)
        notifier.unsubscribe("dev-2", other)

    asyncio.run(main())


def test_an_attached_publisher_gets_every_key_and_its_failure_is_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier()
    sent: list[str] = []
    notifier.attach(sent.append)
    notifier.notify("dev-1")
    assert sent == ["dev-1"]

    def broken(key: str) -> None:
        raise OSError("database unreachable")

    notifier.attach(broken)
    with caplog.at_level(logging.WARNING, logger="tillit.push"):
        notifier.notify("dev-2")  # does not raise: the change it announces is committed
    assert "could not publish" in caplog.text
    notifier.attach(None)
    notifier.notify("dev-3")
    assert sent == ["dev-1"]


def test_sqlite_stores_have_no_one_to_tell(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "signer.db")
    notifier = Notifier()
    store.connect_notifier(notifier)
    notifier.notify("dev")  # local only, nothing attached
    store.close()


# -- between instances (PostgreSQL) ---------------------------------------------------------------------


def listeners() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "tillit-push-listener")


@pytest.mark.postgresql
def test_an_order_committed_on_one_instance_wakes_a_long_poll_on_another(pg_backend: Backend) -> None:
    a, b_store = pg_backend.open(), pg_backend.open()
    on_a, on_b = Notifier(), Notifier()
    a.connect_notifier(on_a)
    b_store.connect_notifier(on_b)
    k, c = b.kiosk(), b.customer()
    with a.tx() as tx:
        tx.insert_kiosk(k)
        tx.insert_customer(c)

    async def main() -> float:
        waiter, bystander = on_b.subscribe("dev-1"), on_b.subscribe("dev-2")
        try:
            started = time.monotonic()

            def start_order() -> None:  # as Signer.start_order: commit, then notify
                with a.tx() as tx:
                    tx.insert_order(b.order(k.id, c.id, device_id="dev-1", expires_at=time.time() + 180))
                on_a.notify("dev-1")

            await asyncio.to_thread(start_order)
            await asyncio.wait_for(waiter[1].wait(), 10)
            latency = time.monotonic() - started

            def pending() -> int:
                with b_store.tx() as tx:
                    return len(tx.pending_orders_for_device("dev-1", time.time()))

            assert await asyncio.to_thread(pending) == 1  # woken after the commit: B sees the order
            await asyncio.sleep(0.05)
            assert not bystander[1].is_set()
            return latency
        finally:
            on_b.unsubscribe("dev-1", waiter)
            on_b.unsubscribe("dev-2", bystander)

    latency = asyncio.run(main())
    assert latency < 1.0, f"woke after {latency:.3f} s"


@pytest.mark.postgresql
def test_the_listener_comes_back_after_losing_its_connection(pg_backend: Backend) -> None:
    a, b_store = pg_backend.open(), pg_backend.open()
    on_a, on_b = Notifier(), Notifier()
    a.connect_notifier(on_a)
    b_store.connect_notifier(on_b)
    admin = pg_backend.location

    async def main() -> None:
        waiter = on_b.subscribe("dev-1")
        try:
            # Drop every listener's connection (both instances'): each reconnects and wakes all its
            # waiters, since what was sent meanwhile is lost.
            def kill() -> None:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE application_name = 'tillit-push' AND datname = current_database()"
                    )

            await asyncio.to_thread(kill)
            await asyncio.wait_for(waiter[1].wait(), 15)
            # ... and then hears notifications again.
            for _ in range(100):
                waiter[1].clear()
                await asyncio.to_thread(on_a.notify, "dev-1")
                try:
                    await asyncio.wait_for(waiter[1].wait(), 0.5)
                    return
                except TimeoutError:
                    continue  # B's listener had not yet listened again when A sent
            raise AssertionError("no notification after reconnecting")
        finally:
            on_b.unsubscribe("dev-1", waiter)

    asyncio.run(main())


@pytest.mark.postgresql
def test_close_stops_the_listener_and_detaches(pg_backend: Backend) -> None:
    before = listeners()
    store = PostgresStore(pg_backend.location)
    notifier = Notifier()
    store.connect_notifier(notifier)
    assert listeners() == before + 1
    with pytest.raises(RuntimeError):
        store.connect_notifier(Notifier())
    started = time.monotonic()
    store.close()
    assert time.monotonic() - started < 5
    assert listeners() == before
    notifier.notify("dev")  # nothing attached any more: no error


@pytest.mark.postgresql
def test_open_store_chooses_postgresql_by_url(tmp_path: Path, pg_backend: Backend) -> None:
    pg = open_store(SignerSettings(home=tmp_path, database_url=pg_backend.location))
    lite = open_store(SignerSettings(home=tmp_path, database_url=None))
    try:
        assert isinstance(pg, PostgresStore)
        assert isinstance(lite, SqliteStore) and lite.path == tmp_path / "signer.db"
    finally:
        pg.close()
        lite.close()


def test_an_unreachable_database_is_a_clear_error() -> None:
    from tillit.signer import errors

    with pytest.raises(errors.Unavailable, match="cannot use the PostgreSQL database"):
        PostgresStore("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")

"""The PostgreSQL store's connections: one that broke while idle in the pool is replaced before use
(the pool does not test it on checkout), and reads, run without a transaction, refuse to write."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from tests.daemon import PASSWORD, Daemon, make_daemon
from tests.factories import fresh_adult
from tests.store import builders as b
from tests.store.conftest import pg_admin_url, with_param
from tillit.phone.client import PhoneClient
from tillit.postgres_connections import connection_options
from tillit.signer.store.postgres import PostgresStore
from tillit.signer.wire import AppRequest

pytestmark = [pytest.mark.postgresql]


def end_store_connections(url: str) -> int:
    """Terminate every pooled connection of the signer on this database (as a server restart or an
    administrator would); how many there were."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'tillit-signer' AND datname = current_database()"
        ).fetchall()
    return len(rows)


@pytest.fixture
def store(pg_database: str) -> Iterator[PostgresStore]:
    opened = PostgresStore(pg_database, min_size=4, max_size=4)
    opened._pool.wait()  # all four connections open, so that all four are ended below
    try:
        yield opened
    finally:
        opened.close()


def test_transactions_reads_and_notifications_survive_connections_ended_while_idle(
    store: PostgresStore, pg_database: str
) -> None:
    customer = b.customer()
    with store.tx() as tx:
        tx.insert_customer(customer)
    for attempt in range(3):
        assert end_store_connections(pg_database) >= 1
        time.sleep(0.2)  # the server has closed them; the pool has not noticed
        with store.tx() as tx:  # a write: its BEGIN finds the broken connections
            tx.add_failure(customer.id, "failed_passwords")
        with store.read() as tx:  # a read: its first SELECT does
            found = tx.customer(customer.id)
        assert found is not None and found.failed_passwords == attempt + 1
        end_store_connections(pg_database)
        time.sleep(0.2)
        store.publish("dev-1")  # and a notification


def test_connections_keep_alive_unless_the_url_says_otherwise(store: PostgresStore, pg_database: str) -> None:
    """TCP keepalives and a send timeout on every connection (a dead peer is noticed in about a
    minute, not the kernel's two hours); a value in the URL wins."""
    with store._pool.connection() as conn:
        options = conninfo_to_dict(conn.info.dsn)
    assert (options["keepalives"], options["keepalives_idle"], options["tcp_user_timeout"]) == ("1", "30", "30000")
    own = with_param(pg_database, "keepalives_idle", "7")
    assert connection_options(own)["keepalives_count"] == "3" and "keepalives_idle" not in connection_options(own)
    with psycopg.connect(own, **connection_options(own)) as conn:
        assert conninfo_to_dict(conn.info.dsn)["keepalives_idle"] == "7"


def test_a_read_refuses_writes_and_audit_entries(store: PostgresStore) -> None:
    customer = b.customer()
    with pytest.raises(RuntimeError, match="only SELECTs"), store.read() as tx:
        tx.insert_customer(customer)
    with pytest.raises(RuntimeError, match="audit"), store.read() as tx:
        tx.audit("customer.enrolled", customer.id, 1.0)
    with store.read() as tx:
        assert tx.customer(customer.id) is None


@pytest.mark.integration
@pytest.mark.hsm
def test_the_daemon_serves_orders_after_its_connections_were_ended(tmp_path: Path, pg_database: str) -> None:
    daemon = make_daemon(tmp_path / "home", TILLIT_DATABASE_URL=pg_database)
    daemon.start()
    try:
        number = fresh_adult()
        daemon.enrol(number)
        phone = daemon.add_device(number)
        for _ in range(2):
            assert end_store_connections(pg_database) >= 1
            time.sleep(0.2)
            login(daemon, phone, number)
        phone.close()
    finally:
        daemon.stop()


def login(daemon: Daemon, phone: PhoneClient, number: str) -> None:
    with daemon.kiosk() as kiosk:
        started = kiosk.post("/v1/auth", json={"personalNumber": number})
        assert started.status_code == 200, started.text
        ref = started.json()["orderRef"]
        deadline = time.monotonic() + 10
        requests: list[AppRequest] = []
        while not requests and time.monotonic() < deadline:
            requests = [r for r in phone.requests(wait=5).requests if r.order_ref == ref]
        assert requests, "the phone never saw the order"
        assert phone.decide(requests[0], "approve")
        answer = kiosk.post("/v1/password", json={"orderRef": ref, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "complete"
        collected = kiosk.post("/v1/collect", json={"orderRef": ref})
        assert collected.status_code == 200, collected.text
        assert collected.json()["status"] == "complete"


def test_the_health_check_answers_within_its_timeout_when_the_database_takes_no_connections(
    store: PostgresStore, pg_database: str
) -> None:
    """/healthz asks `Store.check`: with the database refusing connections, it waited for the pool's
    30 s and then said only `unavailable: Unavailable`. Now it answers in about its timeout, saying why."""
    store.check(timeout=2)
    name = pg_database.rsplit("/", 1)[1].split("?")[0]
    admin = pg_database.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
    try:
        end_store_connections_as(admin, name)
        for _ in range(6):  # the broken connections first, then none left to hand out
            started = time.monotonic()
            with pytest.raises(Exception) as refused:
                store.check(timeout=1)
            assert time.monotonic() - started < 5
            assert str(refused.value)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    deadline = time.monotonic() + 20
    while True:  # the pool reconnects in the background
        try:
            store.check(timeout=2)
            break
        except Exception:
            assert time.monotonic() < deadline
            time.sleep(0.2)


def end_store_connections_as(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tillit-signer'"
            " AND datname = %s",
            (database,),
        )
    time.sleep(0.2)  # the server has closed them; the pool has not noticed


@pytest.mark.integration
@pytest.mark.hsm
def test_a_signing_that_finds_the_ca_ledgers_database_away_is_retried_not_failed(
    tmp_path: Path, pg_database: str
) -> None:
    """The CA ledger (in the same PostgreSQL database) does not answer while an order is signed: its
    table for CRL numbers is locked by another session, and the daemon's sessions give up after 1 s
    (`lock_timeout`), as on a database failing over. The order goes back to waiting for the
    password (503 `unavailable`), as when the HSM is away; once the database answers, the same
    password signs it."""
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET lock_timeout = '1s'").format(sql.Identifier(conn.info.dbname)))
    daemon = make_daemon(tmp_path / "home", TILLIT_DATABASE_URL=pg_database)
    daemon.start()
    try:
        number, other = fresh_adult(), fresh_adult()
        daemon.enrol(number)
        daemon.enrol(other)
        phone = daemon.add_device(number)
        with daemon.kiosk() as kiosk:
            document = {"name": "avtale.txt", "contentType": "text/plain", "content": "QXZ0YWxlCg=="}
            body = {"personalNumber": number, "userVisibleData": "Avtale", "documents": [document]}
            started = kiosk.post("/v1/sign", json=body)
            assert started.status_code == 200, started.text
            ref = started.json()["orderRef"]
            assert phone.decide(phone.requests(wait=5).requests[0], "approve")
            # A revocation makes the next signing issue a new CRL, which takes the next CRL number.
            daemon.run("tillit-signer", "customers", "revoke-certificate", other)
            with psycopg.connect(pg_database) as locker:
                locker.execute("LOCK TABLE ca_crl_numbers IN ACCESS EXCLUSIVE MODE")
                refused = kiosk.post("/v1/password", json={"orderRef": ref, "password": PASSWORD})
                locker.rollback()
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"] == "unavailable" and "CA ledger" in refused.json()["reason"]
            waiting = kiosk.post("/v1/collect", json={"orderRef": ref}).json()
            assert (waiting["status"], waiting["hintCode"]) == ("pending", "userSign")
            signed = kiosk.post("/v1/password", json={"orderRef": ref, "password": PASSWORD})
            assert signed.status_code == 200 and signed.json()["status"] == "complete", signed.text
        phone.close()
    finally:
        daemon.stop()


def test_the_store_connects_again_within_seconds_of_a_long_outage(pg_database: str) -> None:
    """An operator probe stopped PostgreSQL for 70-90 s: instances answered 503 for 28-50 s more after
    it was back, because psycopg_pool doubled its wait between attempts to connect (1, 2, 4, ... s).
    Here the database refuses every connection for 16 s (the attempts would then be 15 s apart) and
    the store is used again within a few seconds of it taking connections again (`SteadyPool`)."""
    name = conninfo_to_dict(pg_database)["dbname"]
    opened = PostgresStore(pg_database, min_size=2, max_size=2, timeout=1.0)
    opened._pool.wait()

    def allow(allowed: bool) -> None:
        with psycopg.connect(pg_admin_url(), autocommit=True) as conn:
            change = sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}")
            conn.execute(change.format(sql.Identifier(name), sql.Literal(allowed)))
            if not allowed:  # and the store's connections end, as in a server restart
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )

    try:
        allow(False)
        outage = time.monotonic() + 16
        while time.monotonic() < outage:  # requests keep coming, as a load balancer's health checks do
            with contextlib.suppress(Exception), opened.read() as tx:
                tx.execute("SELECT 1")
            time.sleep(0.5)
        allow(True)
        back = time.monotonic()
        while True:
            try:
                with opened.read() as tx:
                    tx.execute("SELECT 1")
                break
            except Exception:
                assert time.monotonic() - back < 6, "the store did not connect again within 6 s"
                time.sleep(0.2)
    finally:
        allow(True)
        opened.close()

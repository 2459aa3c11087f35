"""Races, on both engines, with several store objects on one database standing in for instances.

SQLite passes by serialising every transaction; PostgreSQL runs them at once (READ COMMITTED), so
these are the tests that the row locks, the conditional updates and the audit lock are right. Where a
transaction pauses between its read and its write (`HOLD`), the pause is there to make the race
certain under PostgreSQL; without the lock the test fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from tests.store import builders as b
from tests.store.conftest import Backend
from tillit.signer.audit.chain import verify_chain
from tillit.signer.store.base import Store

T = TypeVar("T")
T0 = b.T0
HOLD = 0.01


def together(n: int, work: Callable[[int], T]) -> list[T]:
    """Run work(0..n-1) on n threads released at once; the results in index order (re-raise any error)."""
    gate = threading.Barrier(n)
    results: list[T | None] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        gate.wait()
        try:
            results[i] = work(i)
        except BaseException as e:  # collected and raised below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a worker hung (deadlock?)"
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]


def instances(backend: Backend, n: int = 3) -> list[Store]:
    return [backend.open() for _ in range(n)]


def seed(store: Store) -> tuple[str, str]:
    k, c = b.kiosk(), b.customer()
    with store.tx() as tx:
        tx.insert_kiosk(k)
        tx.insert_customer(c)
    return k.id, c.id


def test_of_concurrent_transitions_out_of_one_state_exactly_one_wins(backend: Backend) -> None:
    stores = instances(backend)
    kid, cid = seed(stores[0])
    for _round in range(4):
        o = b.order(kid, cid, status="approved")
        with stores[0].tx() as tx:
            tx.insert_order(o)

        def check_password(i: int, ref: str = o.ref) -> bool:
            with stores[i % len(stores)].tx() as tx:
                before = tx.order(ref)
                assert before is not None
                won = tx.transition(ref, ["approved"], "verifying", "userSign")
                if won:
                    tx.audit("order.verifying", ref, T0, by=i)
                    time.sleep(HOLD)  # the losers now wait on the row and must re-check it
                return won

        wins = together(8, check_password)
        assert wins.count(True) == 1, wins
        with stores[1].tx() as tx:
            got = tx.order(o.ref)
            assert got is not None and got.status == "verifying"
            assert tx.count_audit("order.verifying", o.ref) == 1


def test_one_approval_signs_once(backend: Backend) -> None:
    """approved -> verifying -> signing -> complete raced by 8 workers: one signature, whoever runs it."""
    stores = instances(backend)
    kid, cid = seed(stores[0])
    o = b.order(kid, cid, status="approved", kind="sign")
    with stores[0].tx() as tx:
        tx.insert_order(o)

    def drive(i: int) -> int:
        store = stores[i % len(stores)]
        signed = 0
        for src, dst in (("approved", "verifying"), ("verifying", "signing")):
            with store.tx() as tx:
                if not tx.transition(o.ref, [src], dst, "userSign"):
                    return 0
        with store.tx() as tx:
            if tx.transition(o.ref, ["signing"], "complete", "complete", signatures=1):
                tx.audit("signature.created", o.ref, T0, by=i)
                signed = 1
        return signed

    assert sum(together(8, drive)) == 1
    with stores[2].tx() as tx:
        got = tx.order(o.ref)
        assert got is not None and (got.status, got.signatures) == ("complete", 1)
        assert tx.count_audit("signature.created", o.ref) == 1


def test_20_concurrent_wrong_passwords_are_counted_exactly(backend: Backend) -> None:
    stores = instances(backend, 4)
    _, cid = seed(stores[0])

    def wrong_password(i: int) -> int:
        with stores[i % len(stores)].tx() as tx:
            failures = tx.add_failure(cid, "failed_passwords")
            tx.audit("password.wrong", cid, T0, failures=failures)
            if failures >= 5:
                tx.update_customer(cid, password_locked=1)
            return failures

    counts = together(20, wrong_password)
    assert sorted(counts) == list(range(1, 21))
    with stores[0].tx() as tx:
        c = tx.customer(cid)
        assert c is not None and (c.failed_passwords, c.password_locked) == (20, 1)
        assert tx.count_audit("password.wrong", cid) == 20
        assert verify_chain(tx.audit_entries()).ok


def test_the_audit_chain_does_not_fork_under_8_concurrent_writers(backend: Backend) -> None:
    """Writers that share no row: nothing but the audit lock orders their appends."""
    stores = instances(backend, 4)
    customers = [b.customer() for _ in range(8)]
    with stores[0].tx() as tx:
        for c in customers:
            tx.insert_customer(c)
    per_writer, entries_each = 12, 3

    def write(i: int) -> None:
        store = stores[i % len(stores)]
        for n in range(per_writer):
            with store.tx() as tx:
                tx.add_failure(customers[i].id, "failed_passwords")  # a row lock of its own
                for k in range(entries_each):
                    tx.audit("test.event", f"writer-{i}", T0 + n, n=n, k=k)

    together(8, write)
    with stores[1].tx() as tx:
        entries = tx.audit_entries()
        counts = [tx.customer(c.id).failed_passwords for c in customers]  # type: ignore[union-attr]
    total = 8 * per_writer * entries_each
    assert [e.seq for e in entries] == list(range(1, total + 1))
    report = verify_chain(entries)
    assert report.ok, report.reason
    for i in range(8):  # each writer's entries keep the order it made them in
        mine = [(e.data) for e in entries if e.subject == f"writer-{i}"]
        assert mine == [f'{{"k":{k},"n":{n}}}' for n in range(per_writer) for k in range(entries_each)]
    assert counts == [per_writer] * 8


def test_audit_appends_and_row_locks_in_either_order_do_not_deadlock(backend: Backend) -> None:
    """Half the writers append to the audit log before they lock the customer and the order, half after.

    (The rows themselves are locked in one order by all: two transactions locking two rows in opposite
    orders deadlock on any engine that runs them at once, audit or not.)"""
    stores = instances(backend)
    kid, cid = seed(stores[0])
    o = b.order(kid, cid)
    with stores[0].tx() as tx:
        tx.insert_order(o)

    def write(i: int) -> None:
        store = stores[i % len(stores)]
        for n in range(10):
            with store.tx() as tx:
                if i % 2:
                    tx.audit("a", o.ref, T0, i=i, n=n)
                tx.update_customer(cid, last_method="app")
                tx.update_order(o.ref, answer_failures=n)
                if not i % 2:
                    tx.audit("a", o.ref, T0, i=i, n=n)
                time.sleep(HOLD / 10)

    together(8, write)
    with stores[0].tx() as tx:
        assert tx.count_audit("a", o.ref) == 80
        assert verify_chain(tx.audit_entries()).ok


def test_a_nonce_used_at_once_from_several_instances_is_accepted_once(backend: Backend) -> None:
    stores = instances(backend)

    def use(i: int) -> bool:
        with stores[i % len(stores)].tx() as tx:
            ok = tx.use_device_nonce("dev", "the-nonce", T0 + 300, T0)
            time.sleep(HOLD)
            return ok

    assert together(8, use).count(True) == 1


def test_concurrent_activations_leave_one_active_device(backend: Backend) -> None:
    stores = instances(backend)
    _, cid = seed(stores[0])
    first = b.device(cid)
    with stores[0].tx() as tx:
        tx.insert_device(first)

    def activate(i: int) -> tuple[str, list[str]]:
        device = b.device(cid, name=f"phone {i}")
        with stores[i % len(stores)].tx() as tx:
            old = tx.deactivate_devices(cid, T0 + 1)
            time.sleep(HOLD)
            tx.insert_device(device)
        return device.id, old

    results = together(8, activate)
    with stores[0].tx() as tx:
        active = tx.active_device(cid)
        states = {d: tx.device(d).status for d, _ in results}  # type: ignore[union-attr]
    assert active is not None
    assert list(states.values()).count("active") == 1 and states[active.id] == "active"
    deactivated = [d for _, old in results for d in old]
    assert sorted(deactivated) == sorted([first.id, *(d for d, _ in results if d != active.id)])


def test_code_device_and_activation_counters_are_exact(backend: Backend) -> None:
    """Read, then write back read + 1 (as code devices and activations count failures): no update is lost."""
    stores = instances(backend)
    _, cid = seed(stores[0])
    device, activation = b.code_device(cid), b.activation(cid)
    with stores[0].tx() as tx:
        tx.insert_code_device(device)
        tx.insert_activation(activation)

    def fail(i: int) -> None:
        with stores[i % len(stores)].tx() as tx:
            d = tx.code_device_of(cid)
            assert d is not None
            time.sleep(HOLD)
            tx.update_code_device(d.serial, failures=d.failures + 1, last_counter=d.last_counter + 1)
        with stores[(i + 1) % len(stores)].tx() as tx:
            a = tx.activation(activation.id)
            assert a is not None
            time.sleep(HOLD)
            tx.update_activation(a.id, failures=a.failures + 1)

    together(10, fail)
    with stores[0].tx() as tx:
        d, a = tx.code_device(device.serial), tx.activation(activation.id)
    assert d is not None and (d.failures, d.last_counter) == (10, 10)
    assert a is not None and a.failures == 10


def test_an_exclusive_section_is_held_by_one_instance_at_a_time(backend: Backend) -> None:
    stores = instances(backend, 4)
    inside: list[int] = []
    overlaps: list[int] = []

    def work(i: int) -> None:
        with stores[i].exclusive("own-key:test"):
            if inside:
                overlaps.append(i)
            inside.append(i)
            time.sleep(HOLD * 5)
            inside.remove(i)
        with stores[i].exclusive("own-key:test"):  # released: taken again at once
            pass

    together(len(stores), work)
    assert overlaps == []

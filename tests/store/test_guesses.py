"""`signer.guesses` on both engines: admission, decision, the lock, and guesses a crash left undecided."""

from __future__ import annotations

import pytest

from tests.store import builders as b
from tillit.signer.guesses import STALE_SECONDS, Busy, Guesses, Locked, Secret
from tillit.signer.store.base import Store


class Clock:
    def __init__(self) -> None:
        self.now = b.T0

    def __call__(self) -> float:
        return self.now


def setup(store: Store) -> tuple[Guesses, Clock, str]:
    clock = Clock()
    customer = b.customer()
    with store.tx() as tx:
        tx.insert_customer(customer)
    return Guesses({Secret.PASSWORD: 3, Secret.CONTROL_ANSWERS: 2}, clock), clock, customer.id


def test_no_more_guesses_are_admitted_than_the_limit_allows(store: Store) -> None:
    guesses, _, cid = setup(store)
    with store.tx() as tx:
        admitted = [guesses.admit(tx, cid, Secret.PASSWORD, f"t{i}") for i in range(3)]
    with pytest.raises(Busy), store.tx() as tx:
        guesses.admit(tx, cid, Secret.PASSWORD, "fourth")
    with store.tx() as tx:
        verdicts = [guesses.decide(tx, a, correct=False) for a in admitted[:2]]
        assert [v.failures for v in verdicts] == [1, 2] and not verdicts[1].locked
        last = guesses.decide(tx, admitted[2], correct=False)
    assert last.locked and last.attempts_left == 0
    with pytest.raises(Locked), store.tx() as tx:
        guesses.admit(tx, cid, Secret.PASSWORD, "after the lock")


def test_a_right_guess_after_the_lock_does_not_succeed_nor_clear_it(store: Store) -> None:
    guesses, _, cid = setup(store)
    with store.tx() as tx:
        right = guesses.admit(tx, cid, Secret.PASSWORD, "right")
        wrong = [guesses.admit(tx, cid, Secret.PASSWORD, f"w{i}") for i in range(2)]
    with store.tx() as tx:
        tx.update_customer(cid, failed_passwords=1)  # one counted meanwhile, elsewhere
        for w in wrong:
            guesses.decide(tx, w, correct=False)
        verdict = guesses.decide(tx, right, correct=True)
        customer = tx.customer(cid)
    assert not verdict.succeeded and verdict.locked
    assert customer is not None and customer.password_locked == 1 and customer.failed_passwords == 3


def test_a_guess_left_undecided_by_a_crash_counts_as_wrong(store: Store) -> None:
    guesses, clock, cid = setup(store)
    with store.tx() as tx:
        lost = guesses.admit(tx, cid, Secret.CONTROL_ANSWERS, "crashed")
    clock.now += STALE_SECONDS + 1
    with store.tx() as tx:
        again = guesses.admit(tx, cid, Secret.CONTROL_ANSWERS, "next")
        assert tx.customer(cid).failed_answers == 1  # type: ignore[union-attr]
    with store.tx() as tx:
        assert not guesses.decide(tx, lost, correct=True).succeeded  # too late: already counted
        assert guesses.decide(tx, again, correct=True).succeeded
        guesses.unlock(tx, cid)
        assert tx.customer(cid).failed_answers == 0  # type: ignore[union-attr]

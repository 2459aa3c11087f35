"""The order state machine, driven by hypothesis against an in-process `Signer` with a fake clock.

A model follows every rule (start, approve/decline with the device key, wrong/right password, cancel,
time passing, a new device, unlock) and predicts each answer; after every step the store must agree
with the model, final states (complete, failed) must not have moved, a completed order must have an
approval and then a correct password behind it, the failure count stays within five, and the audit
chain verifies.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.factories import fresh_adult
from tillit.hsm.ca import CertificateAuthority
from tillit.hsm.client import Hsm
from tillit.hsm.settings import HsmSettings
from tillit.signer import errors
from tillit.signer.audit.chain import verify_chain
from tillit.signer.service import Signer
from tillit.signer.settings import SignerSettings
from tillit.signer.store.records import Device
from tillit.signer.store.sqlite import SqliteStore
from tillit.signer.wire import approval_message

pytestmark = pytest.mark.hsm

TTL = 180.0
ATTEMPTS = 5
PASSWORD = "Fjord-Hest-2024"
WRONG = "Fjord-Hest-2025"
FINAL = ("complete", "failed")
PICK = st.one_of(st.just(0), st.integers(0, 3))


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass
class ModelOrder:
    ref: str
    status: str  # the store's own: pending, approved, complete, failed
    hint: str
    expires_at: float
    device: Device | None
    key: ec.EllipticCurvePrivateKey | None
    challenge: dict[str, Any] | None
    history: list[str] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.status in ("pending", "approved")


class OrderMachine(RuleBasedStateMachine):
    hsm: ClassVar[Hsm]
    home: ClassVar[Path]

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="orders-"))
        self.now = 1_790_000_000.0
        config = SignerSettings(
            home=self.home,
            allow_test_numbers=True,
            argon2_time_cost=2,
            argon2_memory_kib=19456,
            order_ttl_seconds=TTL,
            password_attempts=ATTEMPTS,
            # The model has no rate limit, and the limiter counts real seconds, not `self.now`: 20
            # steps can start 11 orders for the one number within a minute (hypothesis found it).
            rate_orders_per_number=0,
        )
        self.store = SqliteStore(self.dir / "signer.db")
        self.signer = Signer(config, self.store, self.hsm, clock=lambda: self.now)
        self.model: dict[str, ModelOrder] = {}
        self.failures = 0
        self.locked = False
        self.final_seen: dict[str, tuple[str, str, str | None]] = {}
        self.refs: list[str] = []
        self.interruptions = 0

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- setup -------------------------------------------------------------------------------------

    @initialize()
    def enrol(self) -> None:
        self.number = fresh_adult()
        self.kiosk, _ = self.signer.add_kiosk("Bergen sentrum")
        self.customer = self.signer.enrol(self.number, "Kari Nordmann", "+4791234567", "kari@example.no", PASSWORD)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.device = self.signer.add_device(self.number, _pem(self.key))
        self._start()

    # -- helpers -----------------------------------------------------------------------------------

    def _stored(self, ref: str) -> Any:
        with self.store.tx() as tx:
            return tx.order(ref)

    def _check_response(self, response: Any, order: ModelOrder) -> None:
        status = {"complete": "complete", "failed": "failed"}.get(order.status, "pending")
        assert response.order_ref == order.ref
        assert response.status == status, (response, order)
        if status == "complete":
            assert response.hint_code is None
            assert response.completion_data is not None
        else:
            assert response.hint_code == order.hint, (response, order)
            assert response.completion_data is None

    # -- rules -------------------------------------------------------------------------------------

    def _may_start(self) -> bool:
        """Freely when nothing is open; over an open order (alreadyInProgress) once per run, so that
        the runs also get somewhere."""
        return self.interruptions < 1 or not any(o.open for o in self.model.values())

    @precondition(lambda self: self._may_start())
    @rule()
    def start(self) -> None:
        if any(o.open for o in self.model.values()):
            self.interruptions += 1
        self._start()

    def _start(self) -> None:
        started = self.signer.start_order(self.kiosk, "auth", self.number, None)
        ref = started.order_ref
        assert started.expires_at == int(self.now + TTL)
        order = ModelOrder(ref, "pending", "outstandingTransaction", self.now + TTL, None, None, None)
        open_ones = [o for o in self.model.values() if o.open]
        if self.locked:
            order.status, order.hint = "failed", "passwordLocked"
        elif open_ones:
            for other in open_ones:
                other.status, other.hint = "failed", "alreadyInProgress"
            order.status, order.hint = "failed", "alreadyInProgress"
        else:
            order.device, order.key = self.device, self.key
            requests = self.signer.pending_requests(self.device)
            assert [r.order_ref for r in requests] == [ref]
            assert requests[0].reference == started.reference
            order.challenge = requests[0].challenge
            assert order.challenge["orderRef"] == ref
            assert order.challenge["kiosk"] == {"id": self.kiosk.id, "name": "Bergen sentrum"}
        self.model[ref] = order
        self.refs.append(ref)

    def _pick(self, pick: int) -> str:
        """The newest order for 0, older ones for larger numbers (hypothesis shrinks towards the newest)."""
        return self.refs[-1 - min(pick, len(self.refs) - 1)]

    @precondition(lambda self: self.refs)
    @rule(
        pick=PICK,
        decision=st.sampled_from(["approve", "approve", "decline"]),
        tamper=st.sampled_from([False, False, True]),
    )
    def decide(self, pick: int, decision: str, tamper: bool) -> None:
        ref = self._pick(pick)
        order = self.model[ref]
        device, key = (order.device, order.key) if order.device else (self.device, self.key)
        assert device is not None and key is not None
        challenge = dict(order.challenge or {"orderRef": ref})
        if tamper:
            challenge["userVisibleData"] = str(challenge.get("userVisibleData")) + " og 1 000 000 kr"
        signature = key.sign(approval_message(challenge, decision), ec.ECDSA(hashes.SHA256()))

        expected: type[errors.SignerError] | None
        if order.device is None:
            expected = errors.NotFound
        elif order.device.id != self.device.id:
            expected = errors.Forbidden
        elif order.status == "failed" and order.hint == "expiredTransaction":
            expected = errors.Gone
        elif order.status != "pending":
            expected = errors.Conflict
        elif tamper:
            expected = errors.InvalidInput
        else:
            expected = None

        if expected is not None:
            with pytest.raises(expected):
                self.signer.decide(device, ref, decision, signature)
            return
        assert self.signer.decide(device, ref, decision, signature) == decision
        if decision == "approve":
            order.status, order.hint = "approved", "userSign"
        else:
            order.status, order.hint = "failed", "userCancel"
        order.history.append(decision)

    @precondition(lambda self: self.refs)
    @rule(pick=PICK, right=st.booleans(), times=st.sampled_from([1, 1, 2, 5]))
    def password(self, pick: int, right: bool, times: int) -> None:
        """The kiosk sends the password (`times` wrong ones in a row, or the right one)."""
        ref = self._pick(pick)
        for _ in range(1 if right else times):
            self._password(ref, right)

    def _password(self, ref: str, right: bool) -> None:
        order = self.model[ref]
        if order.status == "pending":
            with pytest.raises(errors.Conflict):
                self.signer.submit_password(self.kiosk, ref, PASSWORD if right else WRONG)
            return
        response = self.signer.submit_password(self.kiosk, ref, PASSWORD if right else WRONG)
        if order.status == "approved":
            if self.locked:
                order.status, order.hint = "failed", "passwordLocked"
            elif right:
                order.status, order.hint = "complete", "complete"
                order.history.append("right password")
                self.failures = 0
            else:
                self.failures += 1
                order.history.append("wrong password")
                if self.failures >= ATTEMPTS:
                    self.locked = True
                    order.status, order.hint = "failed", "passwordLocked"
                    assert response.attempts_left == 0
                else:
                    order.hint = "wrongPassword"
                    assert response.attempts_left == ATTEMPTS - self.failures
        self._check_response(response, order)
        if order.status == "complete":
            data = response.completion_data
            assert data is not None
            assert data.customer["id"] == self.customer.id
            assert data.level == "high"
            assert data.device is not None and order.device is not None and data.device["id"] == order.device.id

    @precondition(lambda self: self.refs)
    @rule(pick=PICK)
    def cancel(self, pick: int) -> None:
        ref = self._pick(pick)
        order = self.model[ref]
        response = self.signer.cancel(self.kiosk, ref)
        if order.open:
            order.status, order.hint = "failed", "cancelled"
        self._check_response(response, order)

    @precondition(lambda self: self.refs)
    @rule(right=st.sampled_from([True, True, False]), times=st.sampled_from([1, 1, 5]))
    def proceed(self, right: bool, times: int) -> None:
        """The customer's natural next step on the newest order: approve it, or type the password."""
        order = self.model[self.refs[-1]]
        if order.status == "pending":
            self.decide(0, "approve", False)
        elif order.status == "approved":
            self.password(0, right, times)

    @rule(seconds=st.sampled_from([1.0, 30.0, 90.0, TTL - 0.5, TTL, TTL + 1, 1000.0]))
    def time_passes(self, seconds: float) -> None:
        """Time passes; the kiosk collects what is open, so an expired order is seen to expire."""
        self.now += seconds
        for order in [o for o in self.model.values() if o.open]:
            if self.now >= order.expires_at:
                order.status, order.hint = "failed", "expiredTransaction"
            self._check_response(self.signer.collect(self.kiosk, order.ref), order)
        # An expired order is no longer offered to the phone.
        offered = {r.order_ref for r in self.signer.pending_requests(self.device)}
        assert offered == {o.ref for o in self.model.values() if o.status == "pending" and o.device == self.device}

    @rule()
    def new_device(self) -> None:
        """A new phone is activated: the old one is deactivated, and its orders, pending or already
        approved, are cancelled (its approval is void)."""
        old = self.device
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.device = self.signer.add_device(self.number, _pem(self.key))
        assert self.signer.device_active(self.device.id)
        assert not self.signer.device_active(old.id)
        for order in self.model.values():
            if order.status in ("pending", "approved") and order.device is not None and order.device.id == old.id:
                order.status, order.hint = "failed", "cancelled"

    @precondition(lambda self: self.failures > 0)
    @rule()
    def unlock(self) -> None:
        customer = self.signer.unlock(self.number)
        assert customer.failed_passwords == 0 and not customer.password_locked
        self.failures, self.locked = 0, False

    # -- invariants --------------------------------------------------------------------------------

    @invariant()
    def store_agrees_with_the_model(self) -> None:
        for ref, order in self.model.items():
            stored = self._stored(ref)
            assert stored is not None
            assert (stored.status, stored.hint_code) == (order.status, order.hint), (ref, order.history)

    @invariant()
    def collect_agrees_with_the_model(self) -> None:
        for ref in self.refs[-3:]:
            self._check_response(self.signer.collect(self.kiosk, ref), self.model[ref])

    @invariant()
    def final_states_never_change(self) -> None:
        for ref in self.model:
            stored = self._stored(ref)
            seen = self.final_seen.get(ref)
            now = (stored.status, stored.hint_code, stored.completion)
            if seen is not None:
                assert now == seen, f"order {ref} left its final state {seen[:2]} for {now[:2]}"
            elif stored.status in FINAL:
                self.final_seen[ref] = now

    @invariant()
    def completion_needs_approval_then_the_right_password(self) -> None:
        with self.store.tx() as tx:
            entries = tx.audit_entries()
        for ref, order in self.model.items():
            stored = self._stored(ref)
            if stored.status != "complete":
                assert stored.completion is None
                continue
            assert stored.approved_at is not None and stored.device_id is not None
            assert order.history[-1] == "right password" and "approve" in order.history
            events = [(e.event, e.subject, e.data) for e in entries]
            approved = [i for i, e in enumerate(events) if e[0] == "order.approved" and e[1] == ref]
            correct = [i for i, e in enumerate(events) if e[0] == "password.correct" and ref in e[2]]
            completed = [i for i, e in enumerate(events) if e[0] == "order.completed" and e[1] == ref]
            assert len(approved) == 1 and len(correct) == 1 and len(completed) == 1
            assert approved[0] < correct[0] < completed[0]

    @invariant()
    def failures_stay_within_the_limit(self) -> None:
        if not hasattr(self, "number"):
            return
        with self.store.tx() as tx:
            customer = tx.customer_by_number(self.number)
        assert customer is not None
        assert 0 <= customer.failed_passwords <= ATTEMPTS
        assert customer.failed_passwords == self.failures
        assert bool(customer.password_locked) is self.locked

    @invariant()
    def the_audit_chain_verifies(self) -> None:
        with self.store.tx() as tx:
            report = verify_chain(tx.audit_entries())
        assert report.ok, report


def test_order_state_machine(hsm: Hsm, hsm_settings: HsmSettings, ca: CertificateAuthority) -> None:
    OrderMachine.hsm = hsm
    OrderMachine.home = hsm_settings.home
    run_state_machine_as_test(
        OrderMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )

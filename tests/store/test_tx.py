"""Every `Tx` method, on SQLite and on PostgreSQL: the same calls give the same answers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.store import builders as b
from tillit.signer.audit.chain import verify_chain
from tillit.signer.states import KIOSK_KINDS, IllegalTransition
from tillit.signer.store.audit import GENESIS
from tillit.signer.store.base import Store
from tillit.signer.store.records import AuditCheckpoint, DevicePin
from tillit.signer.store.relying_parties import RelyingParty, RpOrder
from tillit.signer.store.tx import Tx

T0 = b.T0


def seed(store: Store) -> tuple[str, str]:
    """A kiosk and a customer; their ids."""
    k, c = b.kiosk(), b.customer()
    with store.tx() as tx:
        tx.insert_kiosk(k)
        tx.insert_customer(c)
    return k.id, c.id


# -- transactions -------------------------------------------------------------------------------------


def test_a_transaction_commits_everything_or_nothing(store: Store) -> None:
    c = b.customer()
    with pytest.raises(RuntimeError), store.tx() as tx:
        tx.insert_customer(c)
        tx.audit("customer.enrolled", c.id, T0)
        assert tx.customer(c.id) is not None  # visible inside
        raise RuntimeError("abort")
    with store.tx() as tx:
        assert tx.customer(c.id) is None
        assert tx.audit_entries() == []
    with store.tx() as tx:
        tx.insert_customer(c)
        tx.audit("customer.enrolled", c.id, T0)
    with store.tx() as tx:
        assert tx.customer(c.id) == c
        assert [e.event for e in tx.audit_entries()] == ["customer.enrolled"]


def test_a_constraint_violation_raises_and_leaves_the_store_usable(store: Store) -> None:
    c = b.customer()
    with store.tx() as tx:
        tx.insert_customer(c)
    with pytest.raises(Exception) as caught, store.tx() as tx:
        tx.insert_customer(b.customer(personal_number=c.personal_number))
    assert "unique" in str(caught.value).lower()
    with store.tx() as tx:
        assert len(tx.customers()) == 1


def test_raw_execute_takes_question_mark_placeholders(store: Store) -> None:
    _, cid = seed(store)
    with store.tx() as tx:
        assert tx.execute("SELECT name FROM customers WHERE id=?", [cid]).fetchone()[0] == "Kari Nordmann"
        assert tx.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] >= 1


# -- customers ----------------------------------------------------------------------------------------


def test_customers(store: Store) -> None:
    first = b.customer(name="Kari Nordmann", created_at=T0)
    second = b.customer(name="Ola Åsen", created_at=T0 + 1, cert_serial="0a1b", guardian_id=first.id)
    with store.tx() as tx:
        tx.insert_customer(second)
        tx.insert_customer(first)
    with store.tx() as tx:
        assert tx.customer(first.id) == first
        assert tx.customer_by_number(second.personal_number) == second
        assert tx.customer("nobody") is None
        assert tx.customer_by_number("00000000000") is None
        assert [c.id for c in tx.customers()] == [first.id, second.id]  # by created_at
        tx.update_customer(first.id, status="blocked", blocked_reason="stolen phone", key_generation=2)
        tx.update_customer(first.id, last_method=None)
    with store.tx() as tx:
        got = tx.customer(first.id)
        assert got is not None
        assert (got.status, got.blocked_reason, got.key_generation, got.last_method) == (
            "blocked",
            "stolen phone",
            2,
            None,
        )
        assert tx.customer(second.id) == second


def test_a_password_hash_is_replaced_only_if_unchanged(store: Store) -> None:
    _, cid = seed(store)
    with store.tx() as tx:
        customer = tx.customer(cid)
        assert customer is not None
        assert tx.replace_password_hash(cid, customer.password_hash, "rehashed", "its seal")
        assert not tx.replace_password_hash(cid, customer.password_hash, "stale", "stale seal")  # changed meanwhile
        got = tx.customer(cid)
        assert got is not None and (got.password_hash, got.password_seal) == ("rehashed", "its seal")


def test_devices_without_a_seal_are_found_and_sealed(store: Store) -> None:
    """A store from before seals (signer/seals.py): its devices are found once and sealed."""
    _, cid = seed(store)
    old, sealed = b.device(cid), b.device(cid, status="inactive", key_seal="ab" * 32)
    with store.tx() as tx:
        tx.insert_device(old)
        tx.insert_device(sealed)
    with store.tx() as tx:
        assert [d.id for d in tx.devices_without_seal()] == [old.id]
        tx.set_device_seal(old.id, "cd" * 32)
    with store.read() as tx:
        assert tx.devices_without_seal() == []
        assert tx.device(old.id).key_seal == "cd" * 32  # type: ignore[union-attr]
        assert tx.device(sealed.id).key_seal == "ab" * 32  # type: ignore[union-attr]


def test_booleans_are_stored_as_integers(store: Store) -> None:
    _, cid = seed(store)
    with store.tx() as tx:
        tx.update_customer(cid, password_locked=True)
    with store.tx() as tx:
        got = tx.customer(cid)
        assert got is not None and got.password_locked == 1 and type(got.password_locked) is int
        tx.update_customer(cid, password_locked=False)
    with store.tx() as tx:
        assert tx.customer(cid).password_locked == 0  # type: ignore[union-attr]


def test_add_failure_counts_and_returns_the_new_count(store: Store) -> None:
    _, cid = seed(store)
    with store.tx() as tx:
        assert [tx.add_failure(cid, "failed_passwords") for _ in range(3)] == [1, 2, 3]
    with store.tx() as tx:
        assert tx.add_failure(cid, "failed_passwords") == 4
        tx.update_customer(cid, failed_passwords=0)
    with store.tx() as tx:
        assert tx.add_failure(cid, "failed_passwords") == 1


# -- devices and nonces -------------------------------------------------------------------------------


def test_devices_and_deactivation(store: Store) -> None:
    _, cid = seed(store)
    old, other = b.device(cid), b.device(cid, status="inactive", deactivated_at=T0)
    with store.tx() as tx:
        tx.insert_device(old)
        tx.insert_device(other)
    with store.tx() as tx:
        assert tx.device(old.id) == old
        assert tx.device("nope") is None
        assert tx.active_device(cid) == old
        assert tx.deactivate_devices(cid, T0 + 5) == [old.id]
        new = b.device(cid)
        tx.insert_device(new)
    with store.tx() as tx:
        assert tx.active_device(cid) == new
        gone = tx.device(old.id)
        assert gone is not None and gone.status == "inactive" and gone.deactivated_at == T0 + 5
        assert tx.deactivate_devices("someone else", T0) == []


def test_login_without_password_is_a_setting_of_one_device(store: Store) -> None:
    _, cid = seed(store)
    device, other = b.device(cid), b.device(cid, status="inactive", deactivated_at=T0)
    with store.tx() as tx:
        tx.insert_device(device)
        tx.insert_device(other)
        assert tx.device(device.id).biometric == 0  # type: ignore[union-attr]
        tx.set_device_biometric(device.id, True)
    with store.tx() as tx:
        assert tx.device(device.id).biometric == 1  # type: ignore[union-attr]
        assert tx.device(other.id).biometric == 0  # type: ignore[union-attr]
        assert tx.active_device(cid).public()["biometric"] is True  # type: ignore[union-attr]
        tx.set_device_biometric(device.id, False)
    with store.read() as tx:
        assert tx.device(device.id).biometric == 0  # type: ignore[union-attr]


def test_a_device_nonce_is_accepted_once_until_it_expires(store: Store) -> None:
    with store.tx() as tx:
        assert tx.use_device_nonce("dev", "n1", T0 + 300, T0) is True
        assert tx.use_device_nonce("dev", "n1", T0 + 300, T0) is False  # replay in the same transaction
        assert tx.use_device_nonce("other-dev", "n1", T0 + 300, T0) is True
    with store.tx() as tx:
        assert tx.use_device_nonce("dev", "n1", T0 + 300, T0 + 10) is False
        assert tx.use_device_nonce("dev", "n2", T0 + 300, T0 + 10) is True
    with store.tx() as tx:  # after expiry the nonce is forgotten (and the timestamp check refuses it)
        assert tx.use_device_nonce("dev", "n1", T0 + 900, T0 + 301) is True


# -- kiosks -------------------------------------------------------------------------------------------


def test_kiosks(store: Store) -> None:
    k1 = b.kiosk(name="Bergen sentrum", created_at=T0)
    k2 = b.kiosk(name="Voss", created_at=T0 + 1, role="staff")
    with store.tx() as tx:
        tx.insert_kiosk(k2)
        tx.insert_kiosk(k1)
    with store.tx() as tx:
        assert tx.kiosk(k1.id) == k1 and k1.role == "kiosk"
        assert tx.kiosk_by_token_hash(k2.token_hash) == k2
        assert tx.kiosk_by_token_hash("unknown") is None
        assert [k.id for k in tx.kiosks()] == [k1.id, k2.id]
        assert tx.revoke_kiosk(k1.id) is True
        assert tx.revoke_kiosk(k1.id) is False
        assert tx.revoke_kiosk("nope") is False
    with store.tx() as tx:
        assert tx.kiosk(k1.id).status == "revoked"  # type: ignore[union-attr]


# -- orders -------------------------------------------------------------------------------------------


def test_orders_round_trip_every_field(store: Store) -> None:
    kid, cid = seed(store)
    o = b.order(
        kid,
        cid,
        status="complete",
        hint_code="complete",
        device_id="dev",
        level="high",
        approved_at=T0 + 1.5,
        completed_at=T0 + 2.123456789,
        completion='{"jwt":"ey…"}',
        agreement_id="agr",
        signatures=2,
        subject_id="minor",
        answer_failures=1,
    )
    with store.tx() as tx:
        tx.insert_order(o)
    with store.tx() as tx:
        assert tx.order(o.ref) == o
        assert tx.order("nope") is None


def test_open_orders_by_customer_kind_and_state(store: Store) -> None:
    kid, cid = seed(store)
    made = {
        "pending": b.order(kid, cid, status="pending", created_at=T0 + 3),
        "approved": b.order(kid, cid, status="approved", created_at=T0 + 1),
        "verifying": b.order(kid, cid, status="verifying", kind="sign", created_at=T0 + 2),
        "signing": b.order(kid, cid, status="signing", kind="reset", created_at=T0 + 4),
        "complete": b.order(kid, cid, status="complete"),
        "failed": b.order(kid, cid, status="failed"),
        "guardian": b.order(kid, cid, status="pending", kind="guardian", created_at=T0 + 5),
        "other": b.order(kid, "someone else", status="pending"),
    }
    with store.tx() as tx:
        for o in made.values():
            tx.insert_order(o)
    with store.tx() as tx:
        kiosk_open = [o.ref for o in tx.open_orders_for_customer(cid)]
        assert kiosk_open == [made[k].ref for k in ("approved", "verifying", "pending", "signing")]  # by age
        every_kind = {o.ref for o in tx.open_orders_for_customer(cid, (*KIOSK_KINDS, "guardian"))}
        assert every_kind == {made[k].ref for k in ("approved", "verifying", "pending", "signing", "guardian")}
        assert [o.ref for o in tx.open_orders_for_customer(cid, ["guardian"])] == [made["guardian"].ref]
        assert {o.ref for o in tx.open_orders()} == {
            made[k].ref for k in ("pending", "approved", "verifying", "signing", "guardian", "other")
        }


def test_pending_orders_for_a_device_skip_expired_and_answered(store: Store) -> None:
    kid, cid = seed(store)
    late = b.order(kid, cid, device_id="dev", created_at=T0 + 2)
    early = b.order(kid, cid, device_id="dev", created_at=T0 + 1)
    expired = b.order(kid, cid, device_id="dev", expires_at=T0 + 10)
    answered = b.order(kid, cid, device_id="dev", status="approved")
    elsewhere = b.order(kid, cid, device_id="other")
    with store.tx() as tx:
        for o in (late, early, expired, answered, elsewhere):
            tx.insert_order(o)
    with store.tx() as tx:
        assert [o.ref for o in tx.pending_orders_for_device("dev", T0 + 20)] == [early.ref, late.ref]
        assert [o.ref for o in tx.pending_orders_for_device("dev", T0 + 5)] == [expired.ref, early.ref, late.ref]
        assert tx.pending_orders_for_device("dev", T0 + 1000) == []


def test_transition_moves_only_from_the_given_states(store: Store) -> None:
    kid, cid = seed(store)
    o = b.order(kid, cid)
    with store.tx() as tx:
        tx.insert_order(o)
    with store.tx() as tx:
        assert tx.transition(o.ref, ["approved"], "verifying", "userSign") is False
        assert tx.transition(o.ref, ["pending"], "approved", "userSign", approved_at=T0 + 7.5) is True
        assert tx.transition(o.ref, ["pending"], "approved", "userSign") is False
        assert tx.transition("nope", ["pending"], "approved", "userSign") is False
    with store.tx() as tx:
        got = tx.order(o.ref)
        assert got is not None and (got.status, got.hint_code, got.approved_at) == ("approved", "userSign", T0 + 7.5)
        assert tx.transition(
            o.ref, ["pending", "approved"], "complete", "complete", completed_at=T0 + 9, completion="{}", level="high"
        )
    with store.tx() as tx:
        got = tx.order(o.ref)
        assert got is not None and not got.open
        assert (got.status, got.completion, got.level, got.completed_at) == ("complete", "{}", "high", T0 + 9)


def test_move_returns_the_order_as_it_was_written(store: Store) -> None:
    kid, cid = seed(store)
    o = b.order(kid, cid)
    with store.tx() as tx:
        tx.insert_order(o)
    with store.tx() as tx:
        assert tx.move(o, ["approved"], "verifying", "userSign") is None
        moved = tx.move(o, ["pending"], "approved", "userSign", approved_at=T0 + 7.5, approval="c2ln")
        assert moved is not None and moved == tx.order(o.ref)
        assert (moved.status, moved.hint_code, moved.approved_at, moved.approval) == (
            "approved",
            "userSign",
            T0 + 7.5,
            "c2ln",
        )


def test_update_order_and_orders_about(store: Store) -> None:
    kid, cid = seed(store)
    first = b.order(kid, cid, kind="guardian", subject_id="minor", created_at=T0 + 1)
    second = b.order(kid, cid, kind="guardian", subject_id="minor", created_at=T0 + 2)
    other = b.order(kid, cid, kind="auth", subject_id="minor")
    with store.tx() as tx:
        for o in (second, first, other):
            tx.insert_order(o)
        tx.update_order(first.ref, answer_failures=2, feedback_given=1)
    with store.tx() as tx:
        assert [o.ref for o in tx.orders_about("minor", "guardian")] == [first.ref, second.ref]
        assert tx.orders_about("nobody", "guardian") == []
        got = tx.order(first.ref)
        assert got is not None and got.answer_failures == 2 and got.feedback_given == 1


# -- documents ----------------------------------------------------------------------------------------


def test_documents_keep_their_bytes_exactly(store: Store) -> None:
    kid, cid = seed(store)
    o = b.order(kid, cid, kind="sign")
    every_byte = bytes(range(256)) * 64
    docs = [b.document(o.ref, 1, every_byte), b.document(o.ref, 0)]
    with store.tx() as tx:
        tx.insert_order(o)
        for d in docs:
            tx.insert_document(d)
    with store.tx() as tx:
        got = tx.documents(o.ref)
        assert [d.idx for d in got] == [0, 1]
        assert got[1] == docs[0] and type(got[1].content) is bytes
        tx.set_signed_document(o.ref, 1, b"\x30\x82signed\x00")
    with store.tx() as tx:
        assert tx.documents(o.ref)[1].signed == b"\x30\x82signed\x00"
        assert tx.documents(o.ref)[0].signed is None
        assert tx.documents("nope") == []
        assert tx.document(o.ref, 1) == replace(docs[0], signed=b"\x30\x82signed\x00")
        assert tx.document(o.ref, 2) is None and tx.document("nope", 0) is None
        assert tx.document_digests(o.ref) == [(d.name, d.sha256) for d in (docs[1], docs[0])]
        assert tx.document_digests("nope") == []


# -- control questions, feedback ----------------------------------------------------------------------


def test_control_answers_are_replaced_as_a_whole(store: Store) -> None:
    _, cid = seed(store)
    answers = [("Kva heitte det første kjæledyret ditt?", "h1"), ("Fødebyen til mor?", "h2")]
    with store.tx() as tx:
        tx.set_control_answers(cid, answers)
    with store.tx() as tx:
        assert tx.control_answers(cid) == answers
        tx.set_control_answers(cid, [("Q", "h3")])
    with store.tx() as tx:
        assert tx.control_answers(cid) == [("Q", "h3")]
        assert tx.control_answers("nobody") == []


def test_feedback_report_and_comments(store: Store) -> None:
    with store.tx() as tx:
        tx.insert_feedback("2026-11-01", "k1", "auth", 5, "Raskt og greitt")
        tx.insert_feedback("2026-11-01", "k1", "auth", 4, "")
        tx.insert_feedback("2026-11-02", "k1", "sign", 2, "Treigt")
        tx.insert_feedback("2026-11-02", "k2", "auth", 3, "")
    with store.tx() as tx:
        assert tx.feedback_report() == [("k1", "auth", 2, 4.5), ("k1", "sign", 1, 2.0), ("k2", "auth", 1, 3.0)]
        assert all(type(r[3]) is float for r in tx.feedback_report())
        assert sorted(tx.feedback_comments("k1")) == ["Raskt og greitt", "Treigt"]
        assert tx.feedback_comments("k2") == []


# -- code devices and activations ---------------------------------------------------------------------


def test_code_devices(store: Store) -> None:
    _, cid = seed(store)
    old = b.code_device(cid, assigned_at=T0, status="suspended")
    new = b.code_device(cid, assigned_at=T0 + 10)
    spare = b.code_device(None, assigned_at=None)
    with store.tx() as tx:
        for d in (old, new, spare):
            tx.insert_code_device(d)
    with store.tx() as tx:
        assert tx.code_device(spare.serial) == spare
        assert tx.code_device("nope") is None
        assert tx.code_device_of(cid) == new  # the latest assigned
        assert tx.code_device_of("nobody") is None
        tx.update_code_device(new.serial, last_counter=59_666_666_666, failures=3)  # beyond 32 bits
    with store.tx() as tx:
        got = tx.code_device(new.serial)
        assert got is not None and (got.last_counter, got.failures) == (59_666_666_666, 3)


def test_activations(store: Store) -> None:
    _, cid = seed(store)
    a = b.activation(cid)
    anonymous = b.activation(None, method="old-device", sms_code_hash=None, email_code_hash=None, order_ref="ref")
    with store.tx() as tx:
        tx.insert_activation(a)
        tx.insert_activation(anonymous)
    with store.tx() as tx:
        assert tx.activation(a.id) == a
        assert tx.activation(anonymous.id) == anonymous
        assert tx.activation("nope") is None
        tx.update_activation(a.id, failures=1, status="failed")
    with store.tx() as tx:
        got = tx.activation(a.id)
        assert got is not None and (got.failures, got.status) == (1, "failed")


# -- receipts, agreements, sessions, outbox -----------------------------------------------------------


def test_receipts(store: Store) -> None:
    kid, cid = seed(store)
    o = b.order(kid, cid)
    with store.tx() as tx:
        tx.insert_order(o)
        tx.insert_receipt(o.ref, cid, T0, '{"orderRef":"x","name":"Kari Nordmann ✓"}')
    with store.tx() as tx:
        assert tx.receipt(o.ref) == '{"orderRef":"x","name":"Kari Nordmann ✓"}'
        assert tx.receipt("nope") is None


def test_agreements_wait_until_signed_once(store: Store) -> None:
    _, cid = seed(store)
    other = b.customer()
    first = b.agreement(cid, created_at=T0 + 1)
    second = b.agreement(cid, created_at=T0 + 2)
    theirs = b.agreement(other.id, created_at=T0)
    with store.tx() as tx:
        tx.insert_customer(other)
        for a in (second, theirs, first):
            tx.insert_agreement(a)
    with store.tx() as tx:
        assert tx.agreement(first.id) == first
        assert tx.agreement("nope") is None
        assert [a.id for a in tx.agreements()] == [theirs.id, first.id, second.id]
        assert [a.id for a in tx.agreements(cid)] == [first.id, second.id]
        tx.mark_agreement_signed(first.id, "order-1", T0 + 5)
        tx.mark_agreement_signed(first.id, "order-2", T0 + 6)  # already signed: kept as it was
    with store.tx() as tx:
        assert [a.id for a in tx.agreements(cid, waiting_only=True)] == [second.id]
        assert [a.id for a in tx.agreements(waiting_only=True)] == [theirs.id, second.id]
        got = tx.agreement(first.id)
        assert got is not None and (got.signed_order, got.signed_at) == ("order-1", T0 + 5)


def test_customer_sessions_slide_and_end(store: Store) -> None:
    with store.tx() as tx:
        tx.insert_session("s1", "c1", "k1", T0, T0 + 600)
    with store.tx() as tx:
        assert tx.touch_session("s1", T0 + 30, idle=60) == ("c1", "k1")
        assert tx.touch_session("s1", T0 + 80, idle=60) == ("c1", "k1")  # slid from T0 + 30
        assert tx.touch_session("s1", T0 + 141, idle=60) is None  # idle too long
        assert tx.touch_session("nope", T0, idle=60) is None
        tx.insert_session("s2", "c1", "k1", T0, T0 + 10)
        assert tx.touch_session("s2", T0 + 11, idle=60) is None  # past its absolute expiry
        tx.end_session("s2")
        tx.insert_session("s3", "c2", "k2", T0, T0 + 600)
        tx.end_session("s3")
        assert tx.touch_session("s3", T0 + 1, idle=60) is None


def test_the_outbox_numbers_messages_in_order(store: Store) -> None:
    with store.tx() as tx:
        tx.insert_outbox(T0, "sms", "+4791234567", "BankID-aktivering", "Din BankID-kode: 123456")
        tx.insert_outbox(T0 + 1, "email", "kari@example.no", "Aktivering av BankID", "Koden: 654321")
    with store.tx() as tx:
        tx.insert_outbox(T0 + 2, "sms", "+4791234567", "x", "y")
        rows = tx.outbox()
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows) and len({r["id"] for r in rows}) == 3
    assert rows[1] == {
        "id": rows[1]["id"],
        "at": T0 + 1,
        "channel": "email",
        "recipient": "kari@example.no",
        "subject": "Aktivering av BankID",
        "body": "Koden: 654321",
    }


# -- audit --------------------------------------------------------------------------------------------


def test_the_audit_chain_links_every_entry(store: Store) -> None:
    at = 1_760_000_000.123456789  # the hash covers repr(at): the float must come back bit for bit
    with store.tx() as tx:
        tx.audit("order.started", "ref-1", at, kind="auth", documents=[], text="blå fjord ✓")
        tx.audit("order.approved", "ref-1", at + 1 / 7, device="dev")
    with store.tx() as tx:
        tx.audit("order.started", "ref-2", at + 2, kind="sign")
    with store.tx() as tx:
        entries = tx.audit_entries()
    assert [(e.seq, e.event, e.subject) for e in entries] == [
        (1, "order.started", "ref-1"),
        (2, "order.approved", "ref-1"),
        (3, "order.started", "ref-2"),
    ]
    assert entries[0].prev_hash == GENESIS and entries[0].at == at and entries[1].at == at + 1 / 7
    assert entries[0].data == '{"documents":[],"kind":"auth","text":"blå fjord ✓"}'
    assert verify_chain(entries).ok


def test_audit_reads_see_the_transactions_own_entries(store: Store) -> None:
    with store.tx() as tx:
        tx.audit("password.wrong", "c1", T0, failures=1)
        tx.audit("password.wrong", "c2", T0)
        assert tx.count_audit("password.wrong") == 2
        assert tx.count_audit("password.wrong", "c1") == 1
        assert tx.count_audit("password.correct") == 0
        tx.audit("password.wrong", "c1", T0, failures=2)  # after a read, appends go on
        assert [e.seq for e in tx.audit_entries()] == [1, 2, 3]
    with store.tx() as tx:
        assert tx.count_audit("password.wrong", "c1") == 2
        assert verify_chain(tx.audit_entries()).ok


def test_a_rolled_back_audit_entry_leaves_no_gap(store: Store) -> None:
    with store.tx() as tx:
        tx.audit("one", "s", T0)
    with pytest.raises(RuntimeError), store.tx() as tx:
        tx.audit("lost", "s", T0)
        raise RuntimeError
    with store.tx() as tx:
        tx.audit("two", "s", T0)
    with store.tx() as tx:
        entries = tx.audit_entries()
    assert [(e.seq, e.event) for e in entries] == [(1, "one"), (2, "two")]
    assert verify_chain(entries).ok


def test_audit_checkpoints(store: Store) -> None:
    with store.tx() as tx:
        assert tx.audit_head() is None
        assert tx.last_audit_checkpoint_seq() == 0
        tx.audit("one", "s", T0)
        tx.audit("two", "s", T0)
        head = tx.audit_head()  # sees this transaction's own entries
    assert head is not None and head[0] == 2
    first = AuditCheckpoint(seq=1, hash="a" * 64, at=1_790_000_000, reason="periodic", signature="3045" + "00" * 8)
    second = AuditCheckpoint(seq=2, hash=head[1], at=1_790_000_001, reason="shutdown", signature="3046")
    with store.tx() as tx:
        tx.insert_audit_checkpoint(second)
        tx.insert_audit_checkpoint(first)
        tx.insert_audit_checkpoint(AuditCheckpoint(2, "b" * 64, 0, "again", "00"))  # one per seq: kept as it was
    with store.tx() as tx:
        assert tx.audit_checkpoints() == [first, second]
        assert tx.audit_checkpoint(2) == second
        assert tx.audit_checkpoint(3) is None
        assert tx.last_audit_checkpoint_seq() == 2
        assert tx.audit_head() == (2, head[1])


def test_on_audit_is_called_after_commit_with_the_newest_seq(store: Store) -> None:
    seen: list[tuple[int, int]] = []

    def on_audit(seq: int) -> None:
        with store.tx() as tx:  # after COMMIT: a new transaction sees the entries
            seen.append((seq, len(tx.audit_entries())))

    store.on_audit = on_audit
    with store.tx() as tx:
        tx.audit("one", "s", T0)
        tx.audit("two", "s", T0)
    with store.tx() as tx:
        tx.insert_outbox(T0, "sms", "+47", "s", "b")  # no audit entry: no call
    with pytest.raises(RuntimeError), store.tx() as tx:
        tx.audit("lost", "s", T0)
        raise RuntimeError
    with store.tx() as tx:
        tx.audit("three", "s", T0)
    assert seen == [(2, 2), (3, 3)]


def test_every_tx_method_is_covered_here() -> None:
    """A new Tx method needs a test in this file, so that it is run on both engines."""
    source = Path(__file__).read_text(encoding="utf-8")
    methods = [m for m in dir(Tx) if not m.startswith("_") and callable(getattr(Tx, m))]
    missing = [m for m in methods if f".{m}(" not in source]
    assert not missing, f"Tx methods without a test in tests/store/test_tx.py (run on both engines): {missing}"


# -- guesses, document retention, the kiosk's storage quota ---------------------------------------------


def test_guesses_in_flight_are_counted_per_customer_and_secret(store: Store) -> None:
    _, cid = seed(store)
    with store.tx() as tx:
        assert tx.lock_customer(cid) is not None and tx.lock_customer("nobody") is None
        tx.insert_guess("g1", cid, "password", "order:1", T0)
        tx.insert_guess("g2", cid, "password", "order:2", T0 + 100)
        tx.insert_guess("g3", cid, "answers", "reset:1", T0)
    with store.tx() as tx:
        assert sorted(tx.guesses_in_flight(cid, "password")) == [("g1", "order:1", T0), ("g2", "order:2", T0 + 100)]
        assert tx.guesses_in_flight(cid, "answers") == [("g3", "reset:1", T0)]
        assert tx.delete_guess("g1") is True
        assert tx.delete_guess("g1") is False
        assert len(tx.guesses_in_flight(cid, "password")) == 1
        assert tx.add_failure(cid, "failed_answers") == 1
        assert tx.customer(cid).failed_answers == 1  # type: ignore[union-attr]


def test_code_throttles_are_kept_per_number_and_pruned(store: Store) -> None:
    with store.tx() as tx:
        assert tx.code_throttle("13897248098") == (0, 0.0)
        tx.set_code_throttle("13897248098", 5, T0 + 60)
        tx.set_code_throttle("13897248098", 6, T0 + 120)
        tx.set_code_throttle("01010112345", 5, T0 - 10)
    with store.tx() as tx:
        assert tx.code_throttle("13897248098") == (6, T0 + 120)
        tx.prune_code_throttles(T0)
        assert tx.code_throttle("01010112345") == (0, 0.0)
        tx.set_code_throttle("13897248098", 0, 0.0)
        assert tx.code_throttle("13897248098") == (0, 0.0)


def test_documents_leave_with_a_failed_order_and_give_back_the_kiosk_quota(store: Store) -> None:
    kid, cid = seed(store)
    o = b.order(kid, cid, kind="sign")
    with store.tx() as tx:
        tx.insert_order(o)
        assert tx.add_stored_bytes(kid, 30) == 30
        tx.insert_document(b.document(o.ref, 0, content=b"x" * 10))
        tx.insert_document(b.document(o.ref, 1, content=b"y" * 20))
    with store.tx() as tx:
        assert tx.kiosk(kid).stored_bytes == 30  # type: ignore[union-attr]
        assert tx.transition(o.ref, ["pending"], "failed", "userCancel")
        assert tx.documents(o.ref) == []
        assert tx.kiosk(kid).stored_bytes == 0  # type: ignore[union-attr]
        assert tx.delete_documents(o.ref) == 0


def test_abandoned_orders_and_signed_documents_past_retention_are_found(store: Store) -> None:
    kid, cid = seed(store)
    abandoned = b.order(kid, cid, expires_at=T0 + 10)
    fetched = b.order(kid, cid, kind="sign", status="complete", completed_at=T0)
    unfetched = b.order(kid, cid, kind="sign", status="complete", completed_at=T0)
    with store.tx() as tx:
        for o in (abandoned, fetched, unfetched):
            tx.insert_order(o)
        tx.insert_document(b.document(fetched.ref, 0))
        tx.insert_document(b.document(unfetched.ref, 0))
        tx.mark_fetched(fetched.ref, 0, T0 + 5)
        tx.mark_fetched(fetched.ref, 0, T0 + 50)  # the first fetch stays
    with store.tx() as tx:
        assert tx.document(fetched.ref, 0).fetched_at == T0 + 5  # type: ignore[union-attr]
        assert [o.ref for o in tx.open_orders_expired_before(T0 + 11, 10)] == [abandoned.ref]
        assert tx.open_orders_expired_before(T0 + 9, 10) == []
        assert tx.signed_orders_to_purge(T0 + 1, T0 - 1, 10) == [fetched.ref]
        assert sorted(tx.signed_orders_to_purge(T0 + 1, T0 + 1, 10)) == sorted([fetched.ref, unfetched.ref])
        assert tx.signed_orders_to_purge(T0, T0, 10) == []


def test_a_device_pin_record_is_kept_once_counted_and_locked_at_the_limit(store: Store) -> None:
    _, cid = seed(store)
    d = b.device(cid)
    record = DevicePin(d.id, b"unlock-key", "verifier", b"secret" * 4, 0, None, T0)
    with store.tx() as tx:
        tx.insert_device(d)
        assert tx.insert_device_pin(record) is True
        assert tx.insert_device_pin(replace(record, verifier_hash="other")) is False  # never replaced
    with store.tx() as tx:
        assert tx.device_pin(d.id, lock=True) == record
        assert tx.device_pin("nobody") is None
        assert [tx.wrong_device_pin(d.id, 3, T0 + i) for i in range(2)] == [1, 2]
        assert tx.right_device_pin(d.id) is True
        assert tx.device_pin(d.id).failures == 0  # type: ignore[union-attr]
        assert [tx.wrong_device_pin(d.id, 3, T0 + 10 + i) for i in range(4)] == [1, 2, 3, None]
        locked = tx.device_pin(d.id)
        assert locked is not None and locked.locked_at == T0 + 12 and locked.failures == 3
        assert tx.right_device_pin(d.id) is False  # a right PIN never unlocks a locked device


# -- the order state table ------------------------------------------------------------------------------


def test_transition_refuses_a_move_the_state_table_does_not_allow(store: Store) -> None:
    """Final states stay final and no order skips the phone's approval, whatever a caller asks."""
    kid, cid = seed(store)
    o = b.order(kid, cid)
    with store.tx() as tx:
        tx.insert_order(o)
    with store.tx() as tx:
        with pytest.raises(IllegalTransition):
            tx.transition(o.ref, ["pending"], "complete", "complete")
        with pytest.raises(IllegalTransition):
            tx.transition(o.ref, ["failed"], "approved", "userSign")
        # A move listed from several states happens only from those the table allows it from.
        assert tx.transition(o.ref, ["pending", "verifying"], "signing", "userSign") is False
    with store.tx() as tx:
        got = tx.order(o.ref)
        assert got is not None and got.status == "pending"


def test_fail_order_ends_an_open_order_once_with_its_audit_entry(store: Store) -> None:
    kid, cid = seed(store)
    o = b.order(kid, cid)
    with store.tx() as tx:
        tx.insert_order(o)
    with store.tx() as tx:
        assert tx.fail_order(o.ref, ["pending", "approved"], "cancelled", T0 + 3, by="kiosk") is True
        assert tx.fail_order(o.ref, ["pending", "approved"], "cancelled", T0 + 4) is False
    with store.tx() as tx:
        got = tx.order(o.ref)
        assert got is not None and (got.status, got.hint_code, got.completed_at) == ("failed", "cancelled", T0 + 3)
        assert tx.count_audit("order.failed", o.ref) == 1


# -- leases of the instances running orders, shared rate windows (issue 24) -----------------------------


def test_running_orders_and_take_over_honour_a_live_lease(store: Store) -> None:
    kid, cid = seed(store)
    mine = b.order(kid, cid, status="signing", runner="a", lease_until=T0 + 30, created_at=T0 + 1)
    theirs = b.order(kid, cid, status="verifying", runner="b", lease_until=T0 + 30, created_at=T0 + 2)
    legacy = b.order(kid, cid, status="signing", created_at=T0 + 3)  # from before leases: no runner
    idle = b.order(kid, cid, status="approved", runner="b", lease_until=T0)
    with store.tx() as tx:
        for o in (legacy, theirs, mine, idle):
            tx.insert_order(o)
    with store.tx() as tx:
        assert [o.ref for o in tx.running_orders()] == [mine.ref, theirs.ref, legacy.ref]
        assert tx.take_over(theirs.ref, "verifying", "a", T0 + 29, T0 + 59) is False  # b's lease is live
        assert tx.take_over(mine.ref, "signing", "a", T0 + 5, T0 + 35) is True  # a's own, after a restart
        assert tx.take_over(legacy.ref, "signing", "a", T0 + 5, T0 + 35) is True
        assert tx.take_over(idle.ref, "signing", "a", T0 + 50, T0 + 80) is False  # not in that state
        assert tx.take_over(theirs.ref, "verifying", "a", T0 + 30, T0 + 60) is True  # expired
        assert tx.take_over(theirs.ref, "verifying", "c", T0 + 31, T0 + 61) is False  # now a's, live
    with store.tx() as tx:
        got = {o.ref: (o.runner, o.lease_until) for o in tx.running_orders()}
    assert got == {mine.ref: ("a", T0 + 35), legacy.ref: ("a", T0 + 35), theirs.ref: ("a", T0 + 60)}


def test_renew_lease_extends_only_the_runner_s_own_running_order(store: Store) -> None:
    kid, cid = seed(store)
    running = b.order(kid, cid, status="signing", runner="a", lease_until=T0 + 30)
    done = b.order(kid, cid, status="complete", runner="a", lease_until=T0 + 30)
    with store.tx() as tx:
        for o in (running, done):
            tx.insert_order(o)
    with store.tx() as tx:
        assert tx.renew_lease(running.ref, "b", T0 + 99) is False  # not b's: never taken back by a renewal
        assert tx.renew_lease(done.ref, "a", T0 + 99) is False  # no longer running
        assert tx.renew_lease(running.ref, "a", T0 + 60) is True
    with store.tx() as tx:
        got = {o.ref: (o.runner, o.lease_until) for o in (tx.order(running.ref), tx.order(done.ref)) if o}
    assert got == {running.ref: ("a", T0 + 60), done.ref: ("a", T0 + 30)}


def test_a_transition_records_the_runner_and_its_lease(store: Store) -> None:
    kid, cid = seed(store)
    o = b.order(kid, cid, status="approved")
    with store.tx() as tx:
        tx.insert_order(o)
        assert tx.transition(o.ref, ["approved"], "verifying", "userSign", runner="a", lease_until=T0 + 30)
    with store.tx() as tx:
        got = tx.order(o.ref)
    assert got is not None and (got.status, got.runner, got.lease_until) == ("verifying", "a", T0 + 30)


def test_rate_windows_count_per_scope_and_key_and_forget_old_events(store: Store) -> None:
    with store.tx() as tx:
        assert tx.rate_window("number", "k1", T0 - 60) == (0, None)
        tx.add_rate_event("number", "k1", T0)
        tx.add_rate_event("number", "k1", T0 + 10)
        tx.add_rate_event("kiosk", "k1", T0 + 5)
        tx.add_rate_event("number", "k2", T0 + 1)
    with store.tx() as tx:
        assert tx.rate_window("number", "k1", T0 - 60) == (2, T0)
        assert tx.rate_window("number", "k1", T0) == (1, T0 + 10)  # an event at `since` is out
        assert tx.rate_window("kiosk", "k1", T0 - 60) == (1, T0 + 5)
        assert tx.forget_rate_events("number", T0 + 1) == 2
        assert tx.rate_window("number", "k1", T0 - 60) == (1, T0 + 10)
        assert tx.rate_window("number", "k2", T0 - 60) == (0, None)
        assert tx.rate_window("kiosk", "k1", T0 - 60) == (1, T0 + 5)  # another scope is kept


# -- relying parties of the RP API face and their orders -------------------------------------------------


def test_relying_parties_are_found_by_name_and_certificate_and_revoked_once(store: Store) -> None:
    kid, _ = seed(store)
    rp = RelyingParty(name="Nettbanken AS", kiosk_id=kid, cert_serial="5bc7", fingerprint="ab" * 32, issued_at=T0)
    with store.tx() as tx:
        tx.insert_relying_party(rp)
    with store.tx() as tx:
        assert tx.relying_party("Nettbanken AS") == rp and tx.relying_party("Andre") is None
        assert tx.relying_party_by_fingerprint("ab" * 32) == rp and tx.relying_party_by_fingerprint("cd") is None
        assert tx.relying_parties() == [rp]
        assert tx.revoke_relying_party("Nettbanken AS", T0 + 5) is True
        assert tx.revoke_relying_party("Nettbanken AS", T0 + 6) is False
        assert tx.revoke_relying_party("Andre", T0) is False
    with store.tx() as tx:
        assert tx.relying_party("Nettbanken AS").revoked_at == T0 + 5  # type: ignore[union-attr]
        assert tx.kiosk(kid).status == "revoked"  # type: ignore[union-attr]


def test_an_rp_order_is_found_by_its_tokens_claimed_once_and_completed_once(store: Store) -> None:
    kid, cid = seed(store)
    dev = b.device(cid)
    o = b.order(kid)
    rp = RpOrder(
        order_ref=o.ref,
        auto_start_token=b.uid(),
        qr_start_token=b.uid(),
        qr_start_secret="s3cret",
        end_user_ip="192.0.2.1",
        user_non_visible_data=None,
        visible_data_format="plaintext",
        named_customer=0,
    )
    with store.tx() as tx:
        tx.insert_device(dev)
        tx.insert_order(o)
        tx.insert_rp_order(rp)
    with store.tx() as tx:
        assert tx.rp_order(o.ref) == rp and tx.rp_order("nope") is None
        assert tx.rp_order_by_qr_token(rp.qr_start_token) == rp and tx.rp_order_by_qr_token("x") is None
        assert tx.rp_order_by_auto_start_token(rp.auto_start_token) == rp
        assert tx.claim_rp_order(o.ref, cid, dev.id, T0 + 1) is True
        assert tx.claim_rp_order(o.ref, cid, dev.id, T0 + 2) is False
        assert tx.set_rp_completion(o.ref, '{"user":{}}') is True
        assert tx.set_rp_completion(o.ref, '{"other":1}') is False
    with store.tx() as tx:
        claimed = tx.order(o.ref)
        assert claimed is not None and (claimed.customer_id, claimed.device_id) == (cid, dev.id)
        kept = tx.rp_order(o.ref)
        assert kept is not None and kept.claimed_at == T0 + 1 and kept.completion == '{"user":{}}'

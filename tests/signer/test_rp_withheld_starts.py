"""A relying party learns nothing of who has Tillit from the orders it starts: an order for an
unknown number, for a customer without an active app, or for a blocked one, is pending like any
order no phone has taken yet, can be cancelled like one, and ends `startFailed` when its time is
up, as an order the named customer never opened does (BankID's answer for a person without
BankID). The real reason is in the audit. The daemon's clock is the test's, so lifetimes pass at
once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.factories import fresh_adult
from tillit.hsm.ca import CertificateAuthority
from tillit.hsm.client import Hsm
from tillit.hsm.settings import HsmSettings
from tillit.signer.service import Signer
from tillit.signer.settings import SignerSettings
from tillit.signer.states import OrderKind
from tillit.signer.store.records import Kiosk
from tillit.signer.store.sqlite import SqliteStore

TTL = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def signer(
    hsm: Hsm, hsm_settings: HsmSettings, ca: CertificateAuthority, tmp_path: Path, clock: Clock
) -> Iterator[Signer]:
    del ca  # made for the home: the customers' certificates come from it
    settings = SignerSettings(home=hsm_settings.home, allow_test_numbers=True, order_ttl_seconds=TTL)
    store = SqliteStore(tmp_path / "signer.db")
    yield Signer(settings, store, hsm, clock=clock)
    store.close()


def public_key_der() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture
def rp(signer: Signer) -> Kiosk:
    certificate = signer.relying_parties.add(f"Nettbanken {fresh_adult()}", public_key_der())
    return signer.relying_parties.for_certificate(certificate.dump())


def enrolled(signer: Signer, *, phone: bool) -> str:
    number = fresh_adult()
    signer.enrol(number, "Kari Nordmann", "+4791234567", "kari@example.no", "Fjord-Hest-2024")
    if phone:
        signer.add_device(number, public_key_der())
    return number


def start(signer: Signer, rp: Kiosk, number: str) -> str:
    started = signer.rp_orders.start(
        rp,
        OrderKind.AUTH,
        personal_number=number,
        end_user_ip="192.0.2.1",
        visible_text=None,
        visible_format=None,
        non_visible_data=None,
    )
    return started.order_ref


def answer(signer: Signer, rp: Kiosk, ref: str) -> tuple[str, str | None]:
    collected = signer.rp_orders.collect(rp, ref)
    return collected.status, collected.hint_code


def test_an_order_nobody_can_take_answers_as_one_nobody_has_taken_yet(signer: Signer, rp: Kiosk, clock: Clock) -> None:
    with_phone = enrolled(signer, phone=True)
    without_phone = enrolled(signer, phone=False)
    blocked = enrolled(signer, phone=True)
    signer.lifecycle.block(blocked, "the phone was lost", by="test")
    unknown = fresh_adult()
    people = {"with phone": with_phone, "without phone": without_phone, "blocked": blocked, "unknown": unknown}
    refs = {who: start(signer, rp, number) for who, number in people.items()}
    assert {who: answer(signer, rp, ref) for who, ref in refs.items()} == dict.fromkeys(
        refs, ("pending", "outstandingTransaction")
    )
    clock.now += TTL + 1
    assert {who: answer(signer, rp, ref) for who, ref in refs.items()} == dict.fromkeys(refs, ("failed", "startFailed"))
    with signer.store.tx() as tx:
        started = {e.subject: json.loads(e.data) for e in tx.audit_entries() if e.event == "order.started"}
    assert started[refs["unknown"]]["withheld"] == "noDevice"
    assert started[refs["without phone"]]["withheld"] == "noDevice"
    assert started[refs["blocked"]]["withheld"] == "blocked"
    assert "withheld" not in started[refs["with phone"]]


def test_a_withheld_order_is_cancelled_as_any_pending_one(signer: Signer, rp: Kiosk) -> None:
    for number in (enrolled(signer, phone=True), fresh_adult()):
        ref = start(signer, rp, number)
        signer.rp_orders.cancel(rp, ref)
        assert answer(signer, rp, ref) == ("failed", "cancelled")


def test_a_kiosks_order_for_an_unknown_number_still_fails_at_once(signer: Signer) -> None:
    """The kiosk must tell the customer what to do next (activate a phone), under its rate limits."""
    kiosk, _ = signer.add_kiosk("Bergen sentrum")
    started = signer.start_order(kiosk, OrderKind.AUTH, fresh_adult(), None)
    with signer.store.read() as tx:
        order = tx.order(started.order_ref)
    assert order is not None and (order.status, order.hint_code) == ("failed", "noDevice")

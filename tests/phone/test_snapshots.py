"""What the phone screen looks like (pytest-textual-snapshot), with fixed fake data, or the real signer
where the screen shows nothing that changes from run to run.

Update after an intended change of the screens: `pytest tests/phone/test_snapshots.py --snapshot-update`,
then look at the SVGs in tests/phone/__snapshots__/ before committing them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.phone.conftest import phone_of
from tests.phone.fakes import FakeClient, deactivated, pending, request
from tests.phone.screen_helpers import open_phone, wait_until
from tillit.phone.app import PhoneApp
from tillit.phone.pytest_plugin import TillitSigner
from tillit.phone.screens.min_bankid import MinBankIDScreen
from tillit.phone.screens.password import PasswordDialog
from tillit.phone.screens.pin import PinDialog
from tillit.phone.widgets.request_panel import RequestPanel
from tillit.signer.wire import CollectResponse

pytestmark = pytest.mark.tui

SIZE = (50, 24)
ORDER = "00000000-0000-4000-8000-000000000001"  # the fake requests' orderRef
SnapCompare = Callable[..., bool]


def settled(view: str) -> Callable[[Pilot[Any]], Any]:
    async def run_before(pilot: Pilot[Any]) -> None:
        panel = pilot.app.screen.query_one(RequestPanel)
        await wait_until(pilot, lambda: panel.view == view, what=f"the {view} view")
        await pilot.pause()

    return run_before


def test_waiting_for_requests(snap_compare: SnapCompare) -> None:
    app = PhoneApp(FakeClient(), owner="Kari Nordmann", device="Karis telefon")
    assert snap_compare(app, terminal_size=SIZE, run_before=settled("waiting"))


def test_a_request_shown(snap_compare: SnapCompare) -> None:
    client = FakeClient(pending(request()), repeat_last=True)
    app = PhoneApp(client, owner="Kari Nordmann", device="Karis telefon")
    assert snap_compare(app, terminal_size=SIZE, run_before=settled("request"))


def test_deactivated(snap_compare: SnapCompare) -> None:
    """A signer that does not say why (one from before `deactivatedReason`): the general words."""
    app = PhoneApp(FakeClient(deactivated()), owner="Kari Nordmann", device="Karis telefon")
    assert snap_compare(app, terminal_size=SIZE, run_before=settled("deactivated"))


@pytest.mark.integration
def test_deactivated_by_another_activation(snap_compare: SnapCompare, kit: TillitSigner) -> None:
    """The real signer says why: BankID was activated on another device (nothing on this screen changes
    from run to run: no request, the names given here)."""
    customer = kit.new_customer(name="Kari Nordmann")
    client, _ = open_phone(phone_of(customer))
    kit.activate(customer, f"{phone_of(customer).profile}-ny")
    try:
        app = PhoneApp(client, owner="Kari Nordmann", device="Karis telefon")
        assert snap_compare(app, terminal_size=SIZE, run_before=settled("deactivated"))
    finally:
        client.close()


def test_a_biometric_request_shown(snap_compare: SnapCompare) -> None:
    login = request(kind="auth", method="biometric", text="Logg inn i nettbanken", documents=())
    app = PhoneApp(FakeClient(pending(login), repeat_last=True), owner="Kari Nordmann", device="Karis telefon")
    assert snap_compare(app, terminal_size=SIZE, run_before=settled("request"))


STATUS = {
    "profile": "kari",
    "exists": True,
    "activated": True,
    "deactivated": False,
    "deactivatedAt": None,
    "customerName": "Kari Nordmann",
    "personalNumber": "13897248098",
    "personalNumberMasked": "138972*****",
    "activatedAt": "2024-03-04T09:15:00+01:00",
    "deviceName": "Karis telefon",
    "deviceId": "device-1",
    "server": "http://127.0.0.1:8700",
    "biometric": True,
    "history": [
        {"at": "2024-05-02T13:45:10+02:00", "orderRef": "o3", "reference": "BLÅ FJORD", "kind": "auth",
         "method": "biometric", "kioskName": "Bergen sentrum", "decision": "approve", "outcome": "done"},
        {"at": "2024-05-02T13:40:00+02:00", "orderRef": "o2", "reference": "GRØN ØY", "kind": "sign",
         "method": "app", "kioskName": "Bergen sentrum", "decision": "decline", "outcome": "done"},
        {"at": "2024-04-30T10:01:00+02:00", "orderRef": "o1", "reference": "RAUD BÅT", "kind": "auth",
         "method": "app", "kioskName": "Voss", "decision": "approve", "outcome": "expired"},
    ],
}  # fmt: skip


def test_min_bankid(snap_compare: SnapCompare) -> None:
    app = PhoneApp(FakeClient(), owner="Kari Nordmann", device="Karis telefon", status=lambda: STATUS)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settled("waiting")(pilot)
        await pilot.press("m")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, MinBankIDScreen), what="Min BankID")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


AGREEMENT = """# Låneavtale 2024-117
Eg godtek *vilkåra* og +angrefristen+.

| Lån | Rente |
|---|---|
| 2 500 000 kr | 5,1 % |
---
* Nedbetaling over 25 år"""


def relying_party_sign() -> Any:
    return request(
        reference="RAUD BÅT",
        requester="Fjordbanken nettbank",
        text=AGREEMENT,
        text_format="simpleMarkdownV1",
        password_by="phone",
        documents=(),
    )


def test_a_relying_partys_formatted_request_shown(snap_compare: SnapCompare) -> None:
    """simpleMarkdownV1 rendered: the heading and *bold* in bold, +italic+, the table's columns aligned,
    the rule, the bullet; the relying party's name as the requester."""
    client = FakeClient(pending(relying_party_sign()), repeat_last=True)
    app = PhoneApp(client, owner="Kari Nordmann", device="Karis telefon")
    assert snap_compare(app, terminal_size=(50, 40), run_before=settled("request"))


def test_the_password_asked_again_after_a_wrong_one(snap_compare: SnapCompare) -> None:
    """After "Ja, det er meg" and the app PIN, the phone asks the BankID password; a wrong one: the
    dialog again, with the attempts left."""
    wrong = CollectResponse(order_ref=ORDER, status="pending", hint_code="wrongPassword", attempts_left=2)
    client = FakeClient(pending(relying_party_sign()), repeat_last=True, password_answers=[wrong])
    app = PhoneApp(client, owner="Kari Nordmann", device="Karis telefon")

    async def run_before(pilot: Pilot[Any]) -> None:
        await settled("request")(pilot)
        await pilot.press("j")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PinDialog), what="the PIN dialog")
        await pilot.press(*"2580", "enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PasswordDialog), what="the password dialog")
        await pilot.press(*"feil", "enter")
        await wait_until(pilot, lambda: client.remote.passwords == [(ORDER, "feil")], what="the password sent")
        await wait_until(pilot, lambda: pilot.app.screen.query("#attempts").first() is not None, what="attempts")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)

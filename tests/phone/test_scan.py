"""`tillit-phone scan` and `autostart` against the real signer's BankID RP API face: a relying party
starts an order over mutual TLS, the real `tillit-phone` claims it by the animated QR code's content (as
pybankid's `generate_qr_code_content` makes it) or the autostart token, approves it and gives the
BankID password, which the phone asks for these orders; the relying party collects the result."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import os
import time
from contextlib import closing
from typing import Any

import httpx
import pytest
from textual.widgets import Label

from tests.phone.conftest import phone_of
from tests.phone.screen_helpers import click_when_shown, open_phone, wait_until
from tillit.phone.app import PhoneApp
from tillit.phone.pytest_plugin import TillitCustomer, TillitRelyingParty, TillitSigner
from tillit.phone.screens.password import PasswordDialog
from tillit.phone.screens.pin import PinDialog
from tillit.phone.widgets.request_panel import RequestPanel

pytestmark = pytest.mark.integration

AGREEMENT = "# Avtale 2024-117\nEg godtek *vilkåra*.\n| Lån | Rente |\n|---|---|\n| 2 500 000 kr | 5,1 % |"


@pytest.fixture(scope="module")
def relying_party(kit: TillitSigner) -> TillitRelyingParty:
    return kit.add_relying_party("Fjordbanken nettbank")


@pytest.fixture
def rp(relying_party: TillitRelyingParty) -> Any:
    with relying_party.client() as client:
        yield client


class Started:
    """An RP order as it started: what the animated QR code is made of, and when."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.order_ref: str = answer["orderRef"]
        self.auto_start_token: str = answer["autoStartToken"]
        self.qr_start_token: str = answer["qrStartToken"]
        self.qr_start_secret: str = answer["qrStartSecret"]
        self.started = time.time()

    def qr_content(self, seconds: int | None = None, secret: str | None = None) -> str:
        """The QR code's content now (or after `seconds`), as pybankid's generate_qr_code_content makes it."""
        elapsed = math.floor(time.time() - self.started) if seconds is None else seconds
        key = (secret or self.qr_start_secret).encode()
        code = hmac.new(key, str(elapsed).encode(), hashlib.sha256).hexdigest()
        return f"bankid.{self.qr_start_token}.{elapsed}.{code}"


def start(rp: httpx.Client, kind: str = "auth", **body: Any) -> Started:
    r = rp.post(kind, json={"endUserIp": "192.0.2.10", **body})
    assert r.status_code == 200, r.text
    return Started(r.json())


def collect(rp: httpx.Client, order_ref: str, until_done: float = 20) -> dict[str, Any]:
    """/collect until the order is no longer pending (or `until_done` seconds passed)."""
    deadline = time.monotonic() + until_done
    while True:
        r = rp.post("collect", json={"orderRef": order_ref})
        assert r.status_code == 200, r.text
        answer = dict(r.json())
        if answer["status"] != "pending" or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def test_a_scanned_qr_code_starts_the_login_on_this_phone(
    rp: httpx.Client, relying_party: TillitRelyingParty, kari: TillitCustomer
) -> None:
    customer = kari
    phone = phone_of(customer)
    order = start(rp)
    scanned = phone.scan(order.qr_content())
    assert scanned.ok, scanned.stderr
    assert scanned.request is not None
    assert scanned.request["orderRef"] == order.order_ref
    assert scanned.request["kioskName"] == relying_party.name
    assert (scanned.request["passwordBy"], scanned.request["outcome"]) == ("phone", "done")
    assert f"auth request from {relying_party.name}" in scanned.stderr
    done = collect(rp, order.order_ref)
    assert done["status"] == "complete", done
    assert done["completionData"]["user"]["personalNumber"] == customer.personal_number
    assert phone.status()["history"][0]["orderRef"] == order.order_ref


def test_a_sign_order_shows_its_formatted_text_and_a_wrong_password_is_asked_again(
    rp: httpx.Client, kari: TillitCustomer
) -> None:
    customer = kari
    phone = phone_of(customer)
    text = base64.b64encode(AGREEMENT.encode()).decode()
    order = start(rp, "sign", userVisibleData=text, userVisibleDataFormat="simpleMarkdownV1")
    scanned = phone.run("scan", order.qr_content(), stdin=f"Feil-Passord-1\n{customer.password}\n")
    assert scanned.returncode == 0, scanned.stderr
    shown = scanned.stderr.splitlines()
    assert "    Avtale 2024-117" in shown and "    Eg godtek vilkåra." in shown
    assert "    Lån           Rente" in shown and "    2 500 000 kr  5,1 %" in shown
    assert "wrong BankID password: 4 attempts left" in scanned.stderr
    assert collect(rp, order.order_ref)["status"] == "complete"


def test_a_password_the_signer_will_not_check_is_asked_again(rp: httpx.Client, kari: TillitCustomer) -> None:
    order = start(rp)
    scanned = phone_of(kari).run("scan", order.qr_content(), stdin=f"{'x' * 300}\n{kari.password}\n")
    assert scanned.returncode == 0, scanned.stderr
    assert "the signer refused the password" in scanned.stderr and "Traceback" not in scanned.stderr
    assert "wrong BankID password" not in scanned.stderr  # not counted as a guess
    assert collect(rp, order.order_ref)["status"] == "complete"


def test_the_password_locked_by_wrong_ones_fails_the_order(rp: httpx.Client, kit: TillitSigner) -> None:
    phone = phone_of(kit.new_customer(name="Per Nordmann"))
    order = start(rp)
    locked = phone.run("scan", order.qr_content(), stdin="Feil-Passord-1\n" * 5)
    assert locked.returncode == 6, locked.stderr
    assert "locked" in locked.stderr.splitlines()[-1]
    assert "1 attempt left" in locked.stderr
    assert collect(rp, order.order_ref)["status"] == "failed"  # (the RP face words the lock as BankID does)


def test_the_autostart_token_starts_the_order_on_this_phone(rp: httpx.Client, kari: TillitCustomer) -> None:
    phone = phone_of(kari)
    order = start(rp)
    started = phone.autostart(order.auto_start_token.upper())
    assert started.ok, started.stderr
    assert collect(rp, order.order_ref)["status"] == "complete"


def test_a_declined_scan_fails_the_order(rp: httpx.Client, kari: TillitCustomer) -> None:
    order = start(rp)
    declined = phone_of(kari).scan(order.qr_content(), decline=True)
    assert declined.ok and declined.request is not None and declined.request["decision"] == "decline"
    answer = collect(rp, order.order_ref)
    assert answer["status"] == "failed", answer


def test_the_signers_refusals_are_told_apart(rp: httpx.Client, kit: TillitSigner, kari: TillitCustomer) -> None:
    """A forged code (2), one of an unknown order (3), one claimed by another phone (1), an order meant
    for another customer (1): one line each, and the order is left as it was."""
    phone = phone_of(kari)
    order = start(rp)
    forged = phone.scan(order.qr_content(secret="not-the-secret"))
    assert (forged.exit_code, forged.request) == (2, None), forged.stderr
    assert "(invalidQr)" in forged.stderr
    unknown = phone.scan(order.qr_content().replace(order.qr_start_token, "0" * 8 + order.qr_start_token[8:]))
    assert unknown.exit_code == 3 and "(notFound)" in unknown.stderr, unknown.stderr
    assert collect(rp, order.order_ref, until_done=0)["status"] == "pending"

    other = phone_of(kit.new_customer(name="Siv Nordmann"))
    siv, _ = open_phone(other)
    with closing(siv):
        assert siv.scan(order.qr_content()).order_ref == order.order_ref  # taken, not answered yet
    claimed = phone.scan(order.qr_content())
    assert claimed.exit_code == 1 and "(alreadyClaimed)" in claimed.stderr, claimed.stderr
    assert rp.post("cancel", json={"orderRef": order.order_ref}).json() == {}

    meant_for_siv = start(rp, requirement={"personalNumber": kit_number(other)})
    wrong = phone.autostart(meant_for_siv.auto_start_token)
    assert wrong.exit_code == 1 and "(wrongCustomer)" in wrong.stderr, wrong.stderr
    assert collect(rp, meant_for_siv.order_ref, until_done=0)["status"] == "pending"
    assert rp.post("cancel", json={"orderRef": meant_for_siv.order_ref}).json() == {}


def kit_number(phone: Any) -> str:
    """The personal number of a kit phone's customer (its profile is named after it)."""
    return str(phone.profile).removeprefix("customer-")


@pytest.mark.skipif(os.environ.get("TILLIT_FULL_TESTS") != "1", reason="long (waits 11 s): TILLIT_FULL_TESTS=1")
def test_a_photographed_code_is_stale_after_the_signers_age_limit(rp: httpx.Client, kari: TillitCustomer) -> None:
    """The code as it was at the order's start (qrTime 0), scanned after the signer's limit (10 s)."""
    order = start(rp)
    photographed = order.qr_content(seconds=0)
    time.sleep(11)
    stale = phone_of(kari).scan(photographed)
    assert stale.exit_code == 4 and "(qrExpired)" in stale.stderr, stale.stderr
    assert collect(rp, order.order_ref, until_done=0)["status"] == "pending"
    assert phone_of(kari).scan(order.qr_content()).ok  # the code shown now is taken


@pytest.mark.tui
def test_the_phone_screen_asks_the_password_after_the_approval(
    rp: httpx.Client, relying_party: TillitRelyingParty, kari: TillitCustomer
) -> None:
    """The Textual phone, on the real signer: an RP order for Kari, "Ja, det er meg", the app PIN, a
    wrong BankID password (asked again with the attempts left), the right one; the RP collects it."""
    client, check_pin = open_phone(phone_of(kari))
    order = start(rp, requirement={"personalNumber": kari.personal_number})

    async def scenario() -> str:
        app = PhoneApp(client, owner=kari.name, device="phone", check_pin=check_pin, long_poll_seconds=3)
        async with app.run_test(size=(50, 24)) as pilot:
            panel = app.screen.query_one(RequestPanel)
            await wait_until(pilot, lambda: panel.current is not None, what="the request on the screen")
            await click_when_shown(pilot, "#approve")
            await wait_until(pilot, lambda: isinstance(app.screen, PinDialog), what="the PIN dialog")
            await pilot.press(*"2580", "enter")
            await wait_until(pilot, lambda: isinstance(app.screen, PasswordDialog), what="the password dialog")
            await pilot.press(*"Feil-Passord-1", "enter")
            await wait_until(
                pilot, lambda: bool(app.screen.query("#attempts")), what="the password asked again", timeout=20
            )
            attempts = str(app.screen.query_one("#attempts", Label).render())
            await pilot.press(*kari.password, "enter")
            await wait_until(pilot, lambda: panel.message.startswith("Godkjent"), what="the approval", timeout=20)
            return f"{attempts} | {panel.message}"

    try:
        shown = asyncio.run(scenario())
    finally:
        client.close()
    assert (
        shown
        == f"Feil passord. 4 forsøk igjen før passordet blir sperra. | Godkjent. Hald fram hos {relying_party.name}."
    )
    assert collect(rp, order.order_ref)["status"] == "complete"

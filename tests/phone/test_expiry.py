"""Expiry: a daemon whose orders live 2 seconds, and a slow network that holds the phone's decision back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.daemon import Daemon, make_daemon
from tests.phone.conftest import collect, kit_for, phone_of, start_login
from tests.phone.proxy import SlowProxy
from tests.phone.screen_helpers import open_phone, wait_until
from tillit.phone.app import PhoneApp
from tillit.phone.pytest_plugin import TillitCustomer
from tillit.phone.widgets.request_panel import RequestPanel

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = make_daemon(tmp_path_factory.mktemp("short-lived") / "home", TILLIT_ORDER_TTL_SECONDS="2")
    d.start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def slow_network(short_lived: Daemon) -> Iterator[SlowProxy]:
    proxy = SlowProxy(short_lived.port, delay=3.0)
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def customer(short_lived: Daemon, slow_network: SlowProxy) -> TillitCustomer:
    """A customer whose phone reaches the signer through the slow network."""
    return kit_for(short_lived, slow_network.url).new_customer(name="Kari Treig")


def test_a_decision_that_arrives_after_the_order_expired_exits_4(
    short_lived: Daemon, slow_network: SlowProxy, customer: TillitCustomer
) -> None:
    phone = phone_of(customer)
    held = slow_network.held
    with short_lived.kiosk() as kiosk:
        order = start_login(kiosk, customer.personal_number)
        late = phone.approve(wait=5)
        assert slow_network.held == held + 1
        assert late.exit_code == 4, late.stderr
        assert late.outcome == "expired"
        assert late.request is not None and late.request["orderRef"] == order["orderRef"]
        assert late.request["outcome"] == "expired"
        assert "expired" in late.stderr
        assert collect(kiosk, order["orderRef"]) == {
            "orderRef": order["orderRef"],
            "status": "failed",
            "hintCode": "expiredTransaction",
        }
    assert phone.status()["history"][0]["outcome"] == "expired"


def test_the_screen_drops_an_expired_request_with_a_message(short_lived: Daemon, customer: TillitCustomer) -> None:
    client, check_pin = open_phone(phone_of(customer))

    async def scenario() -> None:
        app = PhoneApp(client, owner="Kari Treig", device="phone", check_pin=check_pin, long_poll_seconds=2)
        async with app.run_test(size=(50, 24)) as pilot:
            panel = app.screen.query_one(RequestPanel)
            with short_lived.kiosk() as kiosk:
                order = await asyncio.to_thread(start_login, kiosk, customer.personal_number)
            await wait_until(pilot, lambda: panel.current is not None, what="the request")
            assert panel.current is not None and panel.current.order_ref == order["orderRef"]
            await wait_until(pilot, lambda: panel.current is None, timeout=6, what="the request to expire")
            assert panel.message == "Førespurnaden gjekk ut på tid."
            assert panel.view == "waiting"

    try:
        asyncio.run(scenario())
    finally:
        client.close()

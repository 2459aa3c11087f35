"""Driving the phone screen in tests: wait for a condition while the app runs, open a real client."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from tillit.phone.account import Account
from tillit.phone.client import PhoneClient
from tillit.phone.keystore import Keystore, KeystoreError
from tillit.phone.pytest_plugin import TillitPhone


async def wait_until(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 10, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.05)


async def click_when_shown(pilot: Pilot[None], selector: str) -> None:
    """Click a widget once it is laid out: a request is known a frame before its buttons have a
    place on the screen, and a click before that lands on nothing."""
    widget = pilot.app.screen.query_one(selector)
    await wait_until(pilot, lambda: widget.display and widget.region.width > 0, what=f"{selector} on the screen")
    await pilot.pause()
    await pilot.click(selector)


def open_phone(phone: TillitPhone) -> tuple[PhoneClient, Callable[[str], bool]]:
    """A real client for a kit phone's profile, and the PIN check the app uses (unlocking the keystore)."""
    keystore = Keystore(Path(phone.home.env["TILLIT_HOME"]) / "phone")
    profile = keystore.load(phone.profile)
    assert profile.device_id is not None

    def check_pin(pin: str) -> bool:
        try:
            profile.unlock(pin)
        except KeystoreError:
            return False
        return True

    return PhoneClient(profile.server, profile.device_id, profile.unlock(phone.pin)), check_pin


def account_of(phone: TillitPhone) -> Account:
    """The kit phone's profile as `tillit-phone watch` uses it (status, PIN check, history, biometric)."""
    return Account(Keystore(Path(phone.home.env["TILLIT_HOME"]) / "phone"), phone.profile)

"""What the phone screen looks like (pytest-textual-snapshot), with fixed fake data: nothing that changes.

Update after an intended change of the screens: `pytest tests/phone/test_snapshots.py --snapshot-update`,
then look at the SVGs in tests/phone/__snapshots__/ before committing them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from phone.app import PhoneApp
from phone.widgets.request_panel import RequestPanel
from tests.phone.fakes import FakeClient, deactivated, pending, request
from tests.phone.screen_helpers import wait_until

pytestmark = pytest.mark.tui

SIZE = (50, 24)
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
    app = PhoneApp(FakeClient(deactivated()), owner="Kari Nordmann", device="Karis telefon")
    assert snap_compare(app, terminal_size=SIZE, run_before=settled("deactivated"))

"""The demo's phone beside the kiosk, showing a request, at 60x20, 80x24 and 120x40: the customer sees who
asks, what they approve (the text, the documents), the whole reference and both buttons at every size.

Each size is a snapshot (update: pytest tests/kiosk/test_kiosk_phone_panel.py --snapshot-update, then
look at the SVGs) and a check, on the rendered screen, that each of those widgets shows whole: not cut
by the edge of the panel or of the screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Button

import tillit.kiosk.app as kiosk_app
from tests.kiosk.conftest import kiosk_settings, until
from tests.kiosk.fakes import FakeClient as FakeSigner
from tests.kiosk.fakes import clock
from tests.phone.fakes import FakeClient as FakePhone
from tests.phone.fakes import pending, request
from tillit.kiosk.app import KioskApp
from tillit.kiosk.context import DemoInfo
from tillit.kiosk.widgets.phone import demo_side
from tillit.phone.widgets.request_panel import RequestPanel

pytestmark = pytest.mark.tui

SIZES = [(60, 20), (80, 24), (120, 40)]
SIGN = request(
    reference="GAMAL TORSK",
    kind="sign",
    text="Signer «Lånavtale for bustadlån» hos Tillit Bank",
    documents=("laanavtale.pdf", "vedlegg-gjeldsinformasjon.pdf"),
)
ESSENTIAL = ("#kind", "#kiosk", "#text", "#documents", "#approve", "#decline")


class PanelKioskApp(KioskApp):
    CSS_PATH = str(Path(kiosk_app.__file__).with_name("app.tcss"))  # a relative path would be read from tests/


def kiosk_with_phone() -> KioskApp:
    phone = FakePhone(pending(SIGN), repeat_last=True)
    side = demo_side(phone, "2580", "Kari Nordmann", [("Ola Nordmann", lambda: "123456")])  # type: ignore[arg-type]
    demo = DemoInfo(side_panels=side)
    return PanelKioskApp(kiosk_settings(language="nn"), FakeSigner(), demo=demo, clock=clock)


def shown_whole(widget: Widget) -> bool:
    """Whether the whole widget is on the screen: not clipped by a container or the screen's edge."""
    geometry = widget.screen.find_widget(widget)
    return geometry.region.area > 0 and geometry.visible_region == geometry.region


def cut_off(panel: RequestPanel) -> list[str]:
    """The essential parts of the shown request that the customer cannot see whole."""
    line = panel.query("#reference-line")  # the compact card's reference in one line of plain text
    reference = "#reference-line" if line and line.first().display else "#reference"
    return [name for name in (*ESSENTIAL, reference) if not shown_whole(panel.query_one(name))]


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_phone_shows_the_whole_request(snap_compare: Any, size: tuple[int, int]) -> None:
    app = kiosk_with_phone()
    cut: list[str] = []

    async def request_shown(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: bool(pilot.app.screen.query(RequestPanel)))
        panel = pilot.app.screen.query_one(RequestPanel)
        await until(pilot, lambda: panel.view == "request", what="the request on the phone")
        await pilot.pause()
        cut.extend(cut_off(panel))
        assert [str(b.label) for b in panel.query(Button)] == ["Ja, det er meg", "Nei, avvis"]

    assert snap_compare(app, terminal_size=size, run_before=request_shown)
    assert not cut, f"cut off at {size[0]}x{size[1]}: {cut}"

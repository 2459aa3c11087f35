"""The phone beside the kiosk in the demo: the phone app's own `RequestPanel`, unlocked by the demo's PIN.

The one place to swap the phone widget: `phone_panel(client, pin)` builds it for each kiosk screen.
The side column says whether the phone shows something to answer (class `-request`), so that a screen
that hides the phone on a narrow terminal (the welcome screen) still shows it then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static

from tillit.kiosk.widgets.code_device import CodeDevicePanel
from tillit.phone.client import PhoneClient
from tillit.phone.widgets.request_panel import WAITING, RequestPanel


def phone_panel(client: PhoneClient, pin: str) -> Widget:
    panel = RequestPanel(client, pin_provider=lambda: pin, id="phone")
    panel.can_focus = True  # F8 (or Tab) gives it the keys j and n, also before a request shows
    return panel


class DemoSide(Vertical):
    """The demo's side column: the phone's owner, the phone, the code devices. It has the class
    `-request` while the phone shows anything but its idle view (a request, a deactivation)."""

    def on_mount(self) -> None:
        for panel in self.query(RequestPanel):
            self.watch(panel, "view", self._phone_view)

    def _phone_view(self, view: str) -> None:
        self.set_class(view != WAITING, "-request")


def demo_side(
    client: PhoneClient, pin: str, owner: str, code_devices: Iterable[tuple[str, Callable[[], str]]] = ()
) -> Callable[[], Iterable[Widget]]:
    """A factory of the side column (phone, code devices), called once per kiosk screen."""
    devices = list(code_devices)

    def build() -> Iterable[Widget]:
        column = DemoSide(
            Static(f"[b]{owner}[/b] · BankID", id="phone-owner"),
            phone_panel(client, pin),
            *(CodeDevicePanel(name, code) for name, code in devices),
            classes="side",
            id="side",
        )
        return [column]

    return build

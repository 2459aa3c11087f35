"""The phone's main screen: who the app belongs to, and the requests as they arrive (`m`: Min BankID)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Label

from tillit.phone.i18n import translate
from tillit.phone.widgets.request_panel import PhoneLike, RequestPanel


class RequestsScreen(Screen[None]):
    CSS_PATH = "requests.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "approve", translate("answer.approve"), id="phone.screen.approve"),
        Binding("n", "decline", translate("answer.decline"), id="phone.screen.decline"),
        Binding("m", "min_bankid", translate("key.min_bankid"), id="phone.screen.min_bankid"),
        Binding("q", "app.quit", translate("key.quit"), id="phone.screen.quit"),
    ]

    def __init__(
        self,
        client: PhoneLike,
        owner: str,
        device: str,
        check_pin: Callable[[str], bool] | None = None,
        biometric: bool = False,
        long_poll_seconds: float = 25.0,
    ) -> None:
        super().__init__()
        self.client = client
        self.owner = owner
        self.device = device
        self.check_pin = check_pin
        self.biometric = biometric
        self.long_poll_seconds = long_poll_seconds

    def compose(self) -> ComposeResult:
        yield Label(f"BankID · {self.owner}" if self.owner else "BankID", id="top", markup=False)
        yield Label(self.device, id="device", markup=False)
        yield RequestPanel(
            self.client,
            check_pin=self.check_pin,
            biometric=self.biometric,
            long_poll_seconds=self.long_poll_seconds,
            id="panel",
        )
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """ "Ja" and "Nei" show in the footer only while a request is on the screen, Min BankID only while
        none is (the request comes first, and the footer has room for three keys)."""
        if action in ("approve", "decline", "min_bankid"):
            panels = self.query(RequestPanel)
            showing = bool(panels) and panels.first().view == "request"
            return showing if action != "min_bankid" else not showing
        return True

    async def action_min_bankid(self) -> None:
        await self.run_action("app.min_bankid")

    def action_approve(self) -> None:
        self.query_one(RequestPanel).action_approve()

    def action_decline(self) -> None:
        self.query_one(RequestPanel).action_decline()

"""The phone's main screen: who the app belongs to, and the requests as they arrive (`m`: Min BankID).

A request that comes on the screen has "Ja, det er meg" focused (Enter answers, Tab moves to "Nei,
avvis"), and a text longer than the screen says so in the footer (`↓ Les meir`; Up and Down scroll)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Label

from tillit.phone.i18n import translate
from tillit.phone.widgets.request_card import RequestCard
from tillit.phone.widgets.request_panel import SHOWING, PhoneLike, RequestPanel


class PhoneFooter(Footer):
    """The footer, compact (one space between the keys, none around them) only when its keys would not
    fit on one line otherwise: on a narrow phone "Ja" and "Nei" stay in it."""

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:  # as Footer: the screen's bindings are not asked before it is up
            return
        shown = [b.binding for b in self.screen.active_bindings.values() if b.binding.show]
        wide = sum(len(self.app.get_key_display(b)) + len(b.description) + 3 for b in shown)
        self.compact = wide > self.screen.size.width
        yield from super().compose()


class RequestsScreen(Screen[None]):
    CSS_PATH = "requests.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "approve", translate("answer.approve"), id="phone.screen.approve"),
        Binding("n", "decline", translate("answer.decline"), id="phone.screen.decline"),
        # priority: before the card's own (hidden) Down, which has it while "Ja" is focused
        Binding(
            "down",
            "scroll_details(1)",
            translate("key.read_more"),
            key_display="↓",
            priority=True,
            id="phone.screen.down",
        ),
        Binding("up", "scroll_details(-1)", "", show=False, id="phone.screen.up"),
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
        yield PhoneFooter()

    def on_mount(self) -> None:
        details = self.query_one("#request-details", VerticalScroll)
        # "↓ Les meir" comes and goes with what is left below the fold.
        for attribute in ("scroll_y", "virtual_size", "size"):
            self.watch(details, attribute, lambda _value: self.refresh_bindings(), init=False)

    def on_resize(self) -> None:
        self.query_one(PhoneFooter).refresh(recompose=True)  # compact or not, for the new width

    def showing(self) -> bool:
        panels = self.query(RequestPanel)
        return bool(panels) and panels.first().view == SHOWING

    def more_below(self) -> bool:
        """Whether the request's text (or its documents) goes on below what the screen shows."""
        details = self.query_one("#request-details", VerticalScroll)
        return self.showing() and details.scroll_y < details.max_scroll_y

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """ "Ja" and "Nei" show in the footer only while a request is on the screen, Min BankID only while
        none is (the request comes first, and the footer has room for three keys); "Les meir" only
        while there is more of the request below."""
        if action in ("approve", "decline"):
            return self.showing()
        if action == "min_bankid":
            return not self.showing()
        if action == "scroll_details":
            return self.more_below() if parameters == (1,) else self.showing()
        return True

    def on_request_panel_shown(self, event: RequestPanel.Shown) -> None:
        """Bring the request forward: "Ja, det er meg" focused, so that Enter, Tab and the arrows work
        on it as they did on the first one (the buttons lose the focus while no request shows)."""
        self.query_one("#approve", Button).focus(scroll_visible=False)
        self.refresh_bindings()

    def action_scroll_details(self, lines: int) -> None:
        self.query_one(RequestCard).action_scroll_details(lines)

    async def action_min_bankid(self) -> None:
        await self.run_action("app.min_bankid")

    def action_approve(self) -> None:
        self.query_one(RequestPanel).action_approve()

    def action_decline(self) -> None:
        self.query_one(RequestPanel).action_decline()

"""Waiting for the BankID app: the reference in large type, the time left, and cancel (Escape); for a
login started with the remembered method, "Other login" (F4). Logins, signings and password
resets all wait here.

The kiosk collects the order's status in a thread worker until the phone has answered. After a few
seconds without an answer it adds the hint about the app's notifications.
"""

from __future__ import annotations

import time
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static
from textual.worker import get_current_worker

from tillit.kiosk.chrome import time_left
from tillit.kiosk.client import SignerError
from tillit.kiosk.navigation import ShowError
from tillit.kiosk.screens.base import OrderScreen
from tillit.kiosk.state import Order, OrderKind
from tillit.kiosk.widgets.big_text import BigText
from tillit.signer.wire import CollectResponse

TITLES: dict[OrderKind, str] = {"auth": "waiting.title", "sign": "waiting.sign_title", "reset": "waiting.reset_title"}


class WaitingScreen(OrderScreen):
    CSS_PATH = "waiting.tcss"
    KEEP_AWAKE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="waiting.cancel"),
        Binding("f4", "other_method", "Other login", id="waiting.other-method"),
    ]

    def __init__(self, order: Order) -> None:
        super().__init__(order)
        self.started_at = 0.0
        self.cancelling = False

    def compose_body(self) -> ComposeResult:
        order = self.order
        yield Static(self.t(TITLES[order.kind]), classes="title")
        yield Static(self.t("waiting.lead"), classes="lead")
        yield BigText(order.reference, id="reference")
        yield Static(f"{self.t('common.reference')}: [b]{order.reference}[/b]", id="reference-text")
        yield Static("", id="countdown")
        yield Static("", id="no-response", classes="muted")

    def on_mount(self) -> None:
        self.started_at = self.kiosk.clock()
        self.tick()
        self.set_interval(0.5, self.tick)
        self.poll(self.order.order_ref)

    def tick(self) -> None:
        if self.kiosk.order is None:
            return
        now = self.kiosk.clock()
        remaining = self.order.expires_at - now
        countdown = self.query_one("#countdown", Static)
        countdown.update(
            self.t("common.expires_in", time=time_left(remaining)) if remaining > 0 else self.t("common.expired")
        )
        if now - self.started_at >= self.kiosk.settings.hint_after_seconds:
            self.query_one("#no-response", Static).update(self.t("waiting.no_response"))

    @work(thread=True, exclusive=True, group="collect", exit_on_error=False)
    def poll(self, order_ref: str) -> None:
        """Collect until the phone has answered (or the order has ended)."""
        worker = get_current_worker()
        client = self.kiosk.client
        interval = self.kiosk.settings.poll_seconds
        failures = 0
        while not worker.is_cancelled:
            try:
                response = client.collect(order_ref)
                failures = 0
            except SignerError as error:
                failures += 1
                if error.unreachable and failures < 5:
                    time.sleep(interval * failures)
                    continue
                self._deliver(self.navigate, ShowError(error))
                return
            if response.status != "pending" or response.hint_code == "userSign":
                self._deliver(self.answered, order_ref, response)
                return
            time.sleep(interval)

    def answered(self, order_ref: str, response: CollectResponse) -> None:
        order = self.kiosk.order
        if order is None or order.order_ref != order_ref or self.cancelling:
            return
        self.show_order((order, response))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "other_method":
            order = self.kiosk.order
            return order is not None and order.remembered and not self.cancelling
        return True

    def action_cancel(self) -> None:
        if self.cancelling:
            return
        self.cancelling = True
        self.workers.cancel_group(self, "collect")
        self.cancel_order()

    def action_other_method(self) -> None:
        order = self.kiosk.order
        if self.cancelling or order is None or not order.remembered:
            return
        self.cancelling = True
        self.workers.cancel_group(self, "collect")
        self.choose_another()

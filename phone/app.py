"""`tillit-phone watch`: the Textual phone. Thin: the screens and widgets do the work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App

from phone.screens.requests import RequestsScreen
from phone.widgets.request_panel import PhoneLike, RequestPanel


class PhoneApp(App[None]):
    TITLE = "BankID"
    ENABLE_COMMAND_PALETTE = False

    def __init__(
        self,
        client: PhoneLike,
        *,
        owner: str = "",
        device: str = "",
        check_pin: Callable[[str], bool] | None = None,
        biometric: bool = False,
        on_decided: Callable[[dict[str, Any]], None] | None = None,
        on_deactivated: Callable[[], None] | None = None,
        long_poll_seconds: float = 25.0,
    ) -> None:
        super().__init__()
        self.client = client
        self.owner = owner
        self.device = device
        self.check_pin = check_pin
        self.biometric = biometric
        self.on_decided = on_decided
        self.on_deactivated = on_deactivated
        self.long_poll_seconds = long_poll_seconds

    def on_mount(self) -> None:
        self.push_screen(
            RequestsScreen(self.client, self.owner, self.device, self.check_pin, self.biometric, self.long_poll_seconds)
        )

    def on_request_panel_decided(self, event: RequestPanel.Decided) -> None:
        if self.on_decided is not None:
            r = event.request
            self.on_decided(
                {
                    "orderRef": r.order_ref,
                    "reference": r.reference,
                    "kind": r.kind,
                    "kioskName": r.kiosk_name,
                    "decision": event.decision,
                    "outcome": event.outcome,
                }
            )

    def on_request_panel_deactivated(self, event: RequestPanel.Deactivated) -> None:
        if self.on_deactivated is not None:
            self.on_deactivated()

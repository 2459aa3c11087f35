"""`tillit-phone watch`: the Textual phone. Thin: the screens and widgets do the work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App

from tillit.phone.i18n import translate
from tillit.phone.screens.min_bankid import MinBankIDScreen
from tillit.phone.screens.requests import RequestsScreen
from tillit.phone.widgets.request_panel import DEACTIVATED, PhoneLike, RequestPanel


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
        status: Callable[[], dict[str, Any]] | None = None,
        on_biometric: Callable[[bool], None] | None = None,
        long_poll_seconds: float = 25.0,
    ) -> None:
        """`status()`: what "Min BankID" shows (`phone.account.status_data` of the profile, read anew
        each time it opens); `on_biometric(on)`: keep the setting once the signer has stored it."""
        super().__init__()
        self.client = client
        self.owner = owner
        self.device = device
        self.check_pin = check_pin
        self.biometric = biometric
        self.on_decided = on_decided
        self.on_deactivated = on_deactivated
        self.status_source = status
        self.on_biometric = on_biometric
        self.long_poll_seconds = long_poll_seconds
        self.requests_screen: RequestsScreen | None = None

    def on_mount(self) -> None:
        self.requests_screen = RequestsScreen(
            self.client, self.owner, self.device, self.check_pin, self.biometric, self.long_poll_seconds
        )
        self.push_screen(self.requests_screen)

    def panel(self) -> RequestPanel | None:
        panels = self.requests_screen.query(RequestPanel) if self.requests_screen is not None else None
        return panels.first() if panels else None

    def current_status(self) -> dict[str, Any]:
        """The profile's status, or what the app was told of it; the panel may know of a deactivation first."""
        if self.status_source is not None:
            data = self.status_source()
        else:
            data = {
                "exists": True,
                "activated": True,
                "deactivated": False,
                "customerName": self.owner or None,
                "deviceName": self.device or None,
                "biometric": self.biometric,
                "history": [],
            }
        panel = self.panel()
        if panel is not None and panel.view == DEACTIVATED and not data.get("deactivated"):
            data = {**data, "activated": False, "deactivated": True}
        return data

    def action_min_bankid(self) -> None:
        if not isinstance(self.screen, MinBankIDScreen):
            self.push_screen(
                MinBankIDScreen(
                    self.client, self.current_status, check_pin=self.check_pin, on_biometric=self.biometric_changed
                )
            )

    def biometric_changed(self, on: bool) -> None:
        """The signer has stored it: keep it, and let "Ja, det er meg" offer the fingerprint (or not)."""
        if self.on_biometric is not None:
            self.on_biometric(on)
        self.biometric = on
        if self.requests_screen is not None:
            self.requests_screen.biometric = on
        panel = self.panel()
        if panel is not None:
            panel.biometric = on

    def on_request_panel_decided(self, event: RequestPanel.Decided) -> None:
        if self.on_decided is not None:
            r = event.request
            self.on_decided(
                {
                    "orderRef": r.order_ref,
                    "reference": r.reference,
                    "kind": r.kind,
                    "method": r.method,
                    "kioskName": r.kiosk_name,
                    "decision": event.decision,
                    "outcome": event.outcome,
                }
            )

    def on_request_panel_shown(self, event: RequestPanel.Shown) -> None:
        """A request has come while Min BankID is open: back to the request, which the kiosk waits on
        (as the BankID app opens a request over whatever it shows). While a dialog is open over Min
        BankID (its PIN for biometric login), that is left alone and a notice says a request waits.
        Nothing while the app is closing (its screens already gone)."""
        if not self.screen_stack:
            return
        if isinstance(self.screen, MinBankIDScreen):
            self.screen.dismiss(None)
        elif self.requests_screen is not None and self.screen is not self.requests_screen:
            self.notify(translate("request.waiting_behind", requester=event.request.kiosk_name), timeout=10)

    def on_request_panel_deactivated(self, event: RequestPanel.Deactivated) -> None:
        if self.on_deactivated is not None:
            self.on_deactivated()

"""The receipt: what was signed, when, with which certificate, and where the signed file is. Nothing
covers it: the feedback question comes after it, over the agreements, if this customer was not asked yet."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from tillit.kiosk.navigation import ShowAgreements, StartOver
from tillit.kiosk.screens.base import KioskScreen
from tillit.kiosk.state import Receipt


def local_time(timestamp: float, zone: tzinfo) -> str:
    """The time as the customer reads it at the branch: "2026-12-06 05:15:05 CET (UTC+01:00)"."""
    at = datetime.fromtimestamp(timestamp, zone)
    offset = at.utcoffset() or timedelta(0)
    sign, minutes = ("-" if offset < timedelta(0) else "+"), abs(int(offset.total_seconds())) // 60
    name = at.strftime("%Z")
    if name == "UTC":
        return f"{at:%Y-%m-%d %H:%M:%S} UTC"
    return f"{at:%Y-%m-%d %H:%M:%S} {name} (UTC{sign}{minutes // 60:02d}:{minutes % 60:02d})"


class ReceiptScreen(KioskScreen):
    CSS_PATH = "receipt.tcss"
    AUTO_FOCUS = "#details-scroll"  # the arrows and PgDn scroll the details when they do not fit
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "done", "OK", id="receipt.done"),
        Binding("escape", "done", "Back", show=False, id="receipt.back"),
    ]

    def __init__(self, receipt: Receipt) -> None:
        super().__init__()
        self.receipt = receipt

    def compose_body(self) -> ComposeResult:
        r = self.receipt
        when = local_time(r.signed_at, self.kiosk.settings.zone())
        rows = [
            (self.t("receipt.what"), r.title),
            (self.t("receipt.when"), when),
            (self.t("receipt.who"), r.customer_name),
            (self.t("receipt.certificate"), r.certificate_serial or "—"),
            (self.t("receipt.reference"), r.reference),
        ]
        for f in r.files:
            rows.append((self.t("receipt.file"), str(f.path)))
            rows.append((self.t("receipt.checksum"), f.sha256))
        yield Static(f"✓ {self.t('receipt.title')}", id="receipt-title", classes="title")
        yield Static(self.t("receipt.lead"), classes="lead")
        # What to do next above the details: in a narrow window (the demo's phone beside it) the details
        # are long, and the customer must still see that Enter takes them on.
        yield Static(self.t("receipt.next"), id="next", classes="lead muted")
        # Labels in one column, values wrapping in the other (a long file name or checksum folds
        # under its value, not under the labels); the box scrolls (arrows, PgDn) when the window is too short for it.
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for label, value in rows:
            table.add_row(Text(label), Text(value))
        with VerticalScroll(id="details-scroll"):
            yield Static(table, id="details")

    def action_done(self) -> None:
        session = self.kiosk.session
        if session is not None:
            ask = not session.feedback_asked
            session.feedback_asked = True
            self.navigate(ShowAgreements(feedback_for=self.receipt.order_ref if ask else None))
        else:
            self.navigate(StartOver())

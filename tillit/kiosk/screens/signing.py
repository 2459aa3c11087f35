"""Signing in progress: the password is checked, the signer signs with the customer's HSM key (one
call), and the kiosk saves the signed PDF. Then the receipt."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import Static

from tillit.kiosk.client import SignerError
from tillit.kiosk.navigation import ShowFailure, ShowPassword, ShowReceipt
from tillit.kiosk.output import save_signed
from tillit.kiosk.screens.base import OrderScreen
from tillit.kiosk.state import Order, Receipt
from tillit.signer.wire import CollectResponse

STEPS = ("signing.approved", "signing.password", "signing.signing", "signing.saving")


class SigningScreen(OrderScreen):
    CSS_PATH = "signing.tcss"
    KEEP_AWAKE = True
    BINDINGS: ClassVar[list[BindingType]] = []

    def __init__(self, order: Order, password: str) -> None:
        super().__init__(order)
        self._password = password
        self.done = 1

    def compose_body(self) -> ComposeResult:
        order = self.order
        title = order.agreement.title if order.agreement else ""
        yield Static(self.t("signing.title", title=title), classes="title")
        for i in range(len(STEPS)):
            yield Static("", id=f"step-{i}", classes="step")
        yield Static(self.t("signing.wait"), classes="lead muted")

    def on_mount(self) -> None:
        self.show_steps(1)
        self.sign(self.order, self._password)
        self._password = ""

    def show_steps(self, done: int) -> None:
        self.done = done
        for i, step in enumerate(STEPS):
            mark = "✓" if i < done else ("…" if i == done else "·")
            widget = self.query_one(f"#step-{i}", Static)
            widget.update(f"{mark} {self.t(step)}")
            widget.set_class(i < done, "done")

    @work(thread=True, exclusive=True, group="sign", exit_on_error=False)
    def sign(self, order: Order, password: str) -> None:
        client = self.kiosk.client
        try:
            response = client.password(order.order_ref, password)
            if response.status != "complete" or response.completion_data is None:
                self._deliver(self.not_signed, order, response)
                return
            self._deliver(self.show_steps, 3)
            folder = self.kiosk.settings.signed_folder()
            files = []
            for signature in response.completion_data.signatures or []:
                index, name, fmt = int(signature["index"]), str(signature["name"]), str(signature["format"])
                content = client.signed_document(order.order_ref, index)
                files.append(save_signed(folder, order.order_ref, name, fmt, content))
        except SignerError as error:
            self._deliver(self.not_saved, error)
            return
        except OSError as error:
            saving = SignerError(500, "saveFailed", f"the signed file could not be saved: {error}")
            self._deliver(self.not_saved, saving)
            return
        customer = response.completion_data.customer
        receipt = Receipt(
            title=order.agreement.title if order.agreement else ", ".join(f.name for f in files),
            order_ref=order.order_ref,
            reference=order.reference,
            signed_at=self.kiosk.clock(),
            customer_name=str(customer.get("name", "")),
            certificate_serial=customer.get("certificateSerial"),
            files=files,
        )
        self._deliver(self.signed, receipt)

    def signed(self, receipt: Receipt) -> None:
        self.navigate(ShowReceipt(receipt))

    def not_signed(self, order: Order, response: CollectResponse) -> None:
        if response.status == "pending" and response.hint_code == "wrongPassword":
            self.navigate(ShowPassword(order, attempts_left=response.attempts_left))
            return
        self.show_order((order, response))

    def not_saved(self, error: SignerError) -> None:
        """Not signed, or the signed file not saved: the failure screen, and the error over it."""
        self.navigate(ShowFailure("signingFailed", kind="sign", error=error))

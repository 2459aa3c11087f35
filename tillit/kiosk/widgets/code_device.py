"""The demo's code device (kodebrikke) beside the kiosk: the current 6-digit code, as the device shows it."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Static

from tillit.kiosk.context import kiosk_of


class CodeDevicePanel(Static):
    DEFAULT_CSS = """
    CodeDevicePanel { height: auto; margin: 1 0 0 0; padding: 0 1; border: round $secondary; }
    """

    def __init__(self, owner: str, code: Callable[[], str], *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.owner = owner
        self.code = code

    def on_mount(self) -> None:
        self.show()
        self.set_interval(1.0, self.show)

    def show(self) -> None:
        code = self.code()
        app = kiosk_of(self)
        self.update(app.t("phone.code", name=self.owner, code=f"[b]{code[:3]} {code[3:]}[/b]"))

"""What the kiosk's screens, dialogs and widgets may use of the running kiosk (the app): its settings,
the signer client, the clock, the customer's session and open order, the words in the customer's
language, the demo's additions, and `navigate` to ask for the next screen.

A protocol, so that nothing below the app imports it: the app (kiosk/app.py) is the one implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, cast

from textual.dom import DOMNode
from textual.widget import Widget

from tillit.kiosk.client import SignerClient
from tillit.kiosk.i18n import Language
from tillit.kiosk.navigation import Step
from tillit.kiosk.settings import KioskSettings
from tillit.kiosk.state import DemoCustomer, Order, Session


@dataclass
class DemoInfo:
    """What the embedded demo adds: its customers on the welcome screen, and the panels beside the kiosk."""

    customers: Sequence[DemoCustomer] = ()
    admin_pin: str | None = None
    side_panels: Callable[[], Iterable[Widget]] = field(default=lambda: ())

    def password_changed(self, personal_number: str, password: str) -> None:
        """A demo customer chose a new password at this kiosk (F5): the welcome screen shows that one now."""
        self.customers = [
            replace(c, password=password) if c.personal_number == personal_number else c for c in self.customers
        ]


class KioskContext(Protocol):
    """The running kiosk, as its screens see it."""

    settings: KioskSettings
    client: SignerClient
    demo: DemoInfo | None
    clock: Callable[[], float]
    session: Session | None
    """The customer logged in, if any."""
    order: Order | None
    """The order the kiosk is waiting on, if any."""
    language: Language
    last_activity: float
    """When the customer last pressed a key or moved the mouse (time.monotonic)."""

    def t(self, key: str, /, **params: Any) -> str:
        """The words for `key` in the customer's language."""
        ...

    def hint_text(self, hint: str | None, attempts_left: int | None = None) -> str:
        """A signer hint code in the customer's words."""
        ...

    def side_panels(self) -> Iterable[Widget]:
        """Widgets beside the kiosk on every screen (the demo's phone and code device)."""
        ...

    def navigate(self, step: Step) -> None:
        """Go where `step` says (the navigator picks the screen), at once."""
        ...


def kiosk_of(node: DOMNode) -> KioskContext:
    """The running kiosk of a screen, dialog or widget."""
    return cast(KioskContext, node.app)

"""One request as the phone shows it: what it is (and when it is a login without password), from which
kiosk, the reference in large type, the text to approve (simpleMarkdownV1 rendered:
phone/visible_text.py), the documents' names, and the two buttons.

The buttons stay at the bottom, always in view; what is above them scrolls (Up and Down) when it is
longer than the card. A card too short for the reference in large type (the demo's phone beside the
kiosk at 80x24 and less) is compact: the reference in one line of plain bold text and the buttons as
one line each, so the requester, the text, the documents, the whole reference and both buttons show.
A card too narrow for the two buttons side by side shows them one above the other."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Button, Label, Static

from tillit.phone.i18n import translate
from tillit.phone.visible_text import render
from tillit.phone.widgets.big_text import BigText, render_big
from tillit.signer.wire import AppRequest

FULL_LAYOUT_ROWS = 11
"""Rows of the full card besides the reference in large type and the buttons: the kind, two of "Frå",
the reference's label with its margin, a margin and two lines of text, the documents, one spare."""

BUTTONS_SIDE_BY_SIDE = 36
"""The card's least width for the two buttons side by side (16 columns each at least, with margins);
narrower, one above the other."""


def kind_title(kind: str) -> str:
    """What the request is (its kind in words); a kind the catalog does not know, capitalised."""
    key = f"kind.{kind}"
    title = translate(key)
    return kind.capitalize() if title == key else title


class RequestCard(Vertical):
    """Shows one `AppRequest`; the buttons' ids are `approve` and `decline` (their Pressed events bubble)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "scroll_details(-1)", "Scroll up", show=False, id="phone.scroll-up"),
        Binding("down", "scroll_details(1)", "Scroll down", show=False, id="phone.scroll-down"),
    ]

    reference: reactive[str] = reactive("")

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="request-details", can_focus=False):
            yield Label("", id="kind")
            yield Label(f"[b]{translate('request.login_now')}[/b]\n{translate('request.login_now_hint')}", id="method")
            yield Label("", id="kiosk", markup=False)
            yield Label(translate("request.reference"), id="reference-label")
            yield BigText("", id="reference")
            yield Label("", id="reference-line", markup=False)
            yield Static("", id="text", markup=False)
            yield Static("", id="documents", markup=False)
        with Horizontal(id="buttons"):
            yield Button(translate("answer.approve"), variant="success", id="approve")
            yield Button(translate("answer.decline"), variant="error", id="decline")

    def show(self, request: AppRequest) -> None:
        self.query_one("#kind", Label).update(kind_title(request.kind))
        # A login that completes on this approval: the customer must know no password will follow.
        self.query_one("#method", Label).display = request.method == "biometric"
        self.query_one("#kiosk", Label).update(translate("request.kiosk", kiosk=request.kiosk_name))
        self.reference = request.reference
        self.query_one("#reference", BigText).text = request.reference
        self.query_one("#reference-line", Label).update(
            translate("request.reference_line", reference=request.reference)
        )
        self.query_one("#text", Static).update(render(request.user_visible_data, request.user_visible_data_format))
        names = [d.get("name", "") for d in request.documents]
        documents = self.query_one("#documents", Static)
        documents.update(translate("request.documents", names=", ".join(names), count=len(names)) if names else "")
        documents.display = bool(names)
        # A new request is read from its top (what it is, who asks, the reference), wherever the last was left.
        self.query_one("#request-details", VerticalScroll).scroll_home(animate=False)
        self.set_buttons(enabled=True)

    def watch_reference(self) -> None:
        self.fit()

    def on_resize(self) -> None:
        self.fit()

    def fit(self) -> None:
        """Compact when the card is shorter than the full layout with this reference in large type."""
        width = self.query_one("#request-details").scrollable_content_region.width or self.size.width
        stacked = self.size.width < BUTTONS_SIDE_BY_SIDE
        button_rows = 6 if stacked else 3
        compact = self.size.height < FULL_LAYOUT_ROWS + button_rows + len(render_big(self.reference, width))
        self.set_class(stacked, "-stacked")
        self.set_class(compact, "-compact")
        for button in self.query(Button):
            button.compact = compact

    def action_scroll_details(self, lines: int) -> None:
        self.query_one("#request-details", VerticalScroll).scroll_relative(y=lines, animate=False)

    def set_buttons(self, enabled: bool) -> None:
        for button in self.query(Button):
            button.disabled = not enabled

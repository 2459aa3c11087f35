"""One agreement's text (extracted from its PDF), scrollable; F2 signs once it has been read to the end,
and before that says so ("read to the end first") instead of doing nothing."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from tillit.kiosk import orders
from tillit.kiosk.client import Agreement, SignerError
from tillit.kiosk.navigation import ShowAgreements
from tillit.kiosk.pdftext import UnreadablePdf, pdf_pages
from tillit.kiosk.screens.base import KioskScreen
from tillit.kiosk.state import Session


class Document(VerticalScroll):
    """The agreement's text; focusable, so the arrow keys and PgUp/PgDn scroll it."""

    can_focus = True

    class Resized(Message):
        """Its size or its text's height changed, so whether it is read to the end may have changed too."""

    def on_resize(self, event: events.Resize) -> None:
        self.post_message(self.Resized())

    # Textual scrolls after the next refresh and animates End over a second: an F2 typed right after
    # End (or after the PageDown that reaches the end) came before the end did, and was lost. The keys
    # that move towards the end scroll at once, so the keys after them find the text where they left it.

    def action_scroll_down(self) -> None:
        if not self.allow_vertical_scroll:
            raise SkipAction()
        self.scroll_to(y=self.scroll_target_y + 1, animate=False, immediate=True)

    def action_page_down(self) -> None:
        if not self.allow_vertical_scroll:
            raise SkipAction()
        self.scroll_to(y=self.scroll_target_y + self.scrollable_content_region.height, animate=False, immediate=True)

    def action_scroll_end(self) -> None:
        if not self.allow_vertical_scroll:
            raise SkipAction()
        self.scroll_end(animate=False, immediate=True, x_axis=False)


class ViewerScreen(KioskScreen):
    CSS_PATH = "viewer.tcss"
    AUTO_FOCUS = "#document"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "sign", "Sign", id="viewer.sign"),
        Binding("escape", "back", "Back", id="viewer.back"),
    ]

    def __init__(self, agreement: Agreement) -> None:
        super().__init__()
        self.agreement = agreement
        self.loaded = False
        self.text_lines = 0
        self.read_to_end = False

    @property
    def session(self) -> Session:
        assert self.kiosk.session is not None
        return self.kiosk.session

    def compose_body(self) -> ComposeResult:
        yield Static(self.agreement.title, id="doc-title", classes="title")
        with Document(id="document"):
            yield Static(self.t("viewer.loading"), id="text", markup=False)
        yield Static("", id="status", classes="muted")

    def on_mount(self) -> None:
        token, agreement_id = self.session.token, self.agreement.id

        def fetch() -> list[str]:
            content = self.kiosk.client.agreement_document(token, agreement_id)
            try:
                return pdf_pages(content)
            except UnreadablePdf as e:
                raise SignerError(422, "unreadablePdf", str(e)) from e

        self.call_signer(fetch, self.show)
        self.watch(self.query_one("#document", Document), "scroll_y", self.scrolled, init=False)

    def show(self, pages: list[str]) -> None:
        parts = []
        for number, text in enumerate(pages, start=1):
            parts.append(f"── {self.t('viewer.page', page=number, pages=len(pages))} ──\n\n{text}")
        text = "\n\n".join(parts) + "\n"
        self.query_one("#text", Static).update(text)
        self.text_lines = text.count("\n")
        self.loaded = True
        self.query_one("#status", Static).update(self.t("viewer.scroll"))
        self.call_after_refresh(self.scrolled)

    def on_document_resized(self, _: Document.Resized) -> None:
        self.scrolled()

    def scrolled(self, _: float | None = None) -> None:
        if not self.loaded or self.read_to_end:
            return
        # Until the text is laid out, the document still has the height of "Loading…" and nothing to scroll.
        if self.query_one("#text", Static).size.height < self.text_lines:
            return
        document = self.query_one("#document", Document)
        if document.scroll_y >= document.max_scroll_y:
            self.read_to_end = True
            status = self.query_one("#status", Static)
            status.update(self.t("viewer.ready"))
            status.set_class(False, "error")
            status.set_class(True, "ready")
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "sign":
            return not self.busy or None
        return True

    def action_sign(self) -> None:
        if self.busy:
            return
        if not self.read_to_end:
            status = self.query_one("#status", Static)
            status.update(self.t("viewer.read_first"))
            status.set_class(True, "error")
            return
        self.busy = True
        self.refresh_bindings()
        self.query_one("#status", Static).update(self.t("common.working"))
        client, number, agreement = self.kiosk.client, self.session.customer.personal_number, self.agreement
        text = self.t("viewer.sign_text", title=agreement.title)
        self.call_signer(lambda: orders.sign(client, number, agreement, text), self.show_order, self.failed)

    def failed(self, error: SignerError) -> bool:
        self.busy = False
        self.refresh_bindings()
        self.query_one("#status", Static).update(self.t("viewer.ready"))
        return False

    def action_back(self) -> None:
        self.navigate(ShowAgreements())

"""One request as the phone shows it: what it is (and when it is a login without password), from which
kiosk, the reference in large type, the text to approve, the documents' names, and the two buttons."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, Static

from tillit.phone.widgets.big_text import BigText
from tillit.signer.wire import AppRequest

KINDS = {
    "auth": "Logg inn",
    "sign": "Signer",
    "activation": "Aktiver BankID på ny eining",
    "guardian": "Godkjenn som føresett",
    "reset": "Nytt passord",
}


LOGIN_NOW = "Innlogging utan passord"
LOGIN_NOW_HINT = "Du blir logga inn når du godkjenner."


def kind_title(kind: str) -> str:
    return KINDS.get(kind, kind.capitalize())


class RequestCard(Vertical):
    """Shows one `AppRequest`; the buttons' ids are `approve` and `decline` (their Pressed events bubble)."""

    def compose(self) -> ComposeResult:
        yield Label("", id="kind")
        yield Label(f"[b]{LOGIN_NOW}[/b]\n{LOGIN_NOW_HINT}", id="method")
        yield Label("", id="kiosk", markup=False)
        yield Label("Referanse", id="reference-label")
        yield BigText("", id="reference")
        yield Static("", id="text", markup=False)
        yield Static("", id="documents", markup=False)
        with Horizontal(id="buttons"):
            yield Button("Ja, det er meg", variant="success", id="approve")
            yield Button("Nei, avvis", variant="error", id="decline")

    def show(self, request: AppRequest) -> None:
        self.query_one("#kind", Label).update(kind_title(request.kind))
        # A login that completes on this approval: the customer must know no password will follow.
        self.query_one("#method", Label).display = request.method == "biometric"
        self.query_one("#kiosk", Label).update(f"Frå: {request.kiosk_name}")
        self.query_one("#reference", BigText).text = request.reference
        self.query_one("#text", Static).update(request.user_visible_data)
        names = [d.get("name", "") for d in request.documents]
        documents = self.query_one("#documents", Static)
        documents.update("Dokument: " + ", ".join(names) if names else "")
        documents.display = bool(names)
        self.set_buttons(enabled=True)

    def set_buttons(self, enabled: bool) -> None:
        for button in self.query(Button):
            button.disabled = not enabled

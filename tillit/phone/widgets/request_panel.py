"""`RequestPanel`: the heart of the phone screen, reusable wherever a phone should appear.

    RequestPanel(client, pin_provider=None)

`client` is a `phone.client.PhoneClient` (an activated device: server, device id, unlocked key), or
anything with an `aio()` method returning a `phone.client.AsyncRemote`. The panel long-polls
`GET /v1/app/requests` in an async `@work` worker (a request shows the moment the signer creates it;
no polling sleeps while waiting), shows each request with its kiosk, its reference in large type, the
text to approve (simpleMarkdownV1 rendered) and the documents' names, and answers it with "Ja, det er
meg" (key `j`) or "Nei, avvis" (key `n`). "Ja" asks for the app PIN in a `PinDialog`, unless `pin_provider` is given, in
which case the PIN is taken from it (the kiosk's demo, where nobody should need to type it).

Keyword options: `check_pin(pin) -> bool` verifies a PIN (the phone app unlocks the keystore with it,
which asks the signer; called in a thread; without it any PIN is accepted; a `KeystoreError` it
raises is shown: the attempts left, which the next PIN dialog repeats, or a locked device),
`biometric=True` offers the simulated fingerprint first (and the decision says whether it was used).
A login without password (`method` "biometric") says so on the card: it completes on this approval.
For a request whose `passwordBy` is "phone" (a relying party's), an approval is followed by the
BankID password in a `PasswordDialog` (screens/password.py), asked again after a wrong one.
A request that expires disappears with a message; a deactivated (or locked) device shows that instead
of requests, with why (the signer's `deactivatedReason`) and what the customer can do. Worker
failures open an `ErrorDialog`. The panel posts `RequestPanel.Decided` after each answer and
`RequestPanel.Deactivated` once, for the host to record, and `RequestPanel.Shown` each time a request
comes on the card, for the host to bring it forward (the phone app focuses "Ja, det er meg" and
closes Min BankID; the kiosk's demo, whose own fields have the focus, need not).

The panel opens its own `httpx.AsyncClient` when mounted and closes it when unmounted; the host keeps
owning (and closes) `client`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Protocol

import httpx
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, ContentSwitcher, Label
from textual.worker import Worker, WorkerState

from tillit.phone.client import AsyncRemote, PhoneError
from tillit.phone.i18n import translate
from tillit.phone.keystore import DeviceDeactivated, DeviceLocked, KeystoreError, WrongPin
from tillit.phone.screens.biometric import BiometricDialog
from tillit.phone.screens.error import ErrorDialog
from tillit.phone.screens.password import ENDED, LOCKED, ask_password, outcome_text
from tillit.phone.screens.pin import PinDialog, pin_refusal
from tillit.phone.widgets.request_card import RequestCard
from tillit.signer.wire import DEACTIVATION_REASONS, AppRequest

WAITING = "waiting"
SHOWING = "request"
DEACTIVATED = "deactivated"
UNSAID = "unknown"  # no reason from the signer (an older one), or one this app does not know


def deactivation_texts(reason: str | None) -> tuple[str, str]:
    """Why the device is deactivated and what the customer can do, for a `wire.DEACTIVATION_REASONS` code."""
    known = reason if reason in DEACTIVATION_REASONS else UNSAID
    return translate(f"deactivated.why.{known}"), translate(f"deactivated.next.{known}")


class PhoneLike(Protocol):
    """What the panel needs of its client: `PhoneClient` is one."""

    def aio(self) -> AsyncRemote: ...


class RequestPanel(Vertical):
    DEFAULT_CSS = Path(__file__).with_name("request_panel.tcss").read_text()
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "approve", translate("answer.approve"), id="phone.approve"),
        Binding("n", "decline", translate("answer.decline"), id="phone.decline"),
    ]

    class Decided(Message):
        """A request was answered (`outcome`: done, expired, ended, deactivated)."""

        def __init__(self, request: AppRequest, decision: str, outcome: str) -> None:
            super().__init__()
            self.request = request
            self.decision = decision
            self.outcome = outcome

    class Deactivated(Message):
        """The signer says this device is no longer the customer's active one."""

    class Shown(Message):
        """A request is now on the card (the first one, or the next after one was answered or ended):
        for the host to bring it forward (focus, close what covers it)."""

        def __init__(self, request: AppRequest) -> None:
            super().__init__()
            self.request = request

    view: reactive[str] = reactive(WAITING)
    message: reactive[str] = reactive("")

    def __init__(
        self,
        client: PhoneLike,
        pin_provider: Callable[[], str] | None = None,
        *,
        check_pin: Callable[[str], bool] | None = None,
        biometric: bool = False,
        long_poll_seconds: float = 25.0,
        recheck_seconds: float = 2.0,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.client = client
        self.pin_provider = pin_provider
        self.check_pin = check_pin
        self.biometric = biometric
        self.long_poll_seconds = long_poll_seconds
        self.recheck_seconds = recheck_seconds
        self.current: AppRequest | None = None
        self.queue: list[AppRequest] = []
        self._remote: AsyncRemote | None = None
        self._expiry: Timer | None = None
        self._told_offline = False
        self._answering = False
        self._awaiting_password = False  # approved, the password dialog open: it left the pending list
        self._dialog: ModalScreen[str | None] | None = None
        self.attempts_left: int | None = None  # after a wrong PIN: what the next PIN dialog shows

    def compose(self) -> ComposeResult:
        with ContentSwitcher(initial=WAITING, id="views"):
            with Vertical(id=WAITING):
                yield Label("BankID", id="logo")
                yield Label(translate("waiting.text"), id="waiting-text")
                yield Label(translate("waiting.hint"), id="waiting-hint")
            yield RequestCard(id=SHOWING)
            with Vertical(id=DEACTIVATED):
                why, next_step = deactivation_texts(None)
                yield Label(translate("deactivated.title"), id="deactivated-title")
                yield Label(why, id="deactivated-why")
                yield Label(next_step, id="deactivated-next")
        yield Label("", id="message", markup=False)

    # -- state ------------------------------------------------------------------------------------

    def watch_view(self, view: str) -> None:
        self.query_one("#views", ContentSwitcher).current = view
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("approve", "decline"):
            return self.view == SHOWING
        return True

    def watch_message(self, message: str) -> None:
        label = self.query_one("#message", Label)
        label.update(message)
        label.display = bool(message)

    def on_mount(self) -> None:
        self._remote = self.client.aio()
        self.listen()

    async def on_unmount(self) -> None:
        for worker in list(self.workers):
            if worker.node is self:
                worker.cancel()
        if self._remote is not None:
            remote, self._remote = self._remote, None
            await remote.aclose()

    # -- the long-poll ----------------------------------------------------------------------------

    @work(exclusive=True, group="phone-listen", exit_on_error=False)
    async def listen(self) -> None:
        """Wait for requests; while one is shown, look again every `recheck_seconds` for it to end."""
        failures = 0
        while self._remote is not None and self.view != DEACTIVATED:
            # After a failure, a quick look first: the long-poll would answer only after its wait, and
            # "no contact" would stay on the screen that long after the bank is back.
            wait = 0 if self.current or failures else self.long_poll_seconds
            asked = time.monotonic()
            try:
                answer = await self._remote.requests(wait=wait)
            except httpx.HTTPError:
                failures += 1
                if not self._told_offline:
                    self._told_offline = True
                    self.app.push_screen(ErrorDialog(translate("offline.dialog")))
                self.message = translate("offline.message")
                await asyncio.sleep(min(10.0, 0.25 * 2**failures))
                continue
            if failures:
                failures, self._told_offline = 0, False
                self.message = ""
            if answer.device_status != "active":
                self.show_deactivated(answer.deactivated_reason)
                return
            self.update_requests(answer.requests)
            if self.current is not None:
                await asyncio.sleep(self.recheck_seconds)
            elif not answer.requests and time.monotonic() - asked < min(wait, 1.0) / 2:
                await asyncio.sleep(1.0)  # a signer that does not hold the long-poll: do not spin

    def update_requests(self, requests: list[AppRequest]) -> None:
        """Show the oldest pending request; one that left the list has ended (expired or cancelled)."""
        current = self.current
        self.queue = [r for r in requests if current is None or r.order_ref != current.order_ref]
        gone = current is not None and current.order_ref not in {r.order_ref for r in requests}
        if current is not None and gone and not self._awaiting_password:
            expired = current.expires_at <= time.time() + 1
            self.drop_current(translate("request.expired" if expired else "request.ended"), False)
        elif current is None and self.queue:
            self.show_request(self.queue.pop(0))

    def show_request(self, request: AppRequest) -> None:
        self.current = request
        self.query_one(RequestCard).show(request)
        self.view = SHOWING
        self.message = ""
        if self._expiry is not None:
            self._expiry.stop()
        self._expiry = self.set_timer(max(0.05, request.expires_at - time.time()), self._expired)
        self.post_message(self.Shown(request))

    def _expired(self) -> None:
        self._expiry = None
        if self.current is not None:
            self.drop_current(translate("request.expired"))

    def drop_current(self, message: str, listen_again: bool = True) -> None:
        self.current = None
        if self._dialog is not None and self._dialog.is_current:
            self._dialog.dismiss(None)  # the PIN is no longer wanted
        if self._expiry is not None:
            self._expiry.stop()
            self._expiry = None
        if self.queue:
            self.show_request(self.queue.pop(0))
        elif self.view != DEACTIVATED:
            self.view = WAITING
        self.message = message
        if listen_again:
            self.listen()  # at once: the next request may already be waiting

    def show_deactivated(self, reason: str | None) -> None:
        """The deactivated view, saying why (`reason`: a `wire.DEACTIVATION_REASONS` code, or None)."""
        if self.view == DEACTIVATED:
            return
        self.current, self.queue = None, []
        if self._expiry is not None:
            self._expiry.stop()
            self._expiry = None
        why, next_step = deactivation_texts(reason)
        self.query_one("#deactivated-why", Label).update(why)
        self.query_one("#deactivated-next", Label).update(next_step)
        self.view = DEACTIVATED
        self.message = ""
        self.post_message(self.Deactivated())

    # -- answering --------------------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id in ("approve", "decline"):
            event.stop()
            self.answer("approve" if event.button.id == "approve" else "decline")

    def action_approve(self) -> None:
        if self.current is not None:
            self.answer("approve")

    def action_decline(self) -> None:
        if self.current is not None:
            self.answer("decline")

    @work(group="phone-answer", exit_on_error=False)
    async def answer(self, decision: str) -> None:
        """Confirm (approve only), then send the decision; one answer at a time."""
        request = self.current
        if request is None or self._answering:
            return
        self._answering = True
        try:
            await self._answer(request, decision)
        finally:
            self._answering = False
            if self.current is not None:
                self.query_one(RequestCard).set_buttons(enabled=True)

    async def _answer(self, request: AppRequest, decision: str) -> None:
        biometric = False
        if decision == "approve":
            how = await self._confirm()
            if how is None:
                return
            biometric = how == "biometric"
        if self.current is None or self.current.order_ref != request.order_ref or self._remote is None:
            return  # it ended while the dialog was open; the message is already shown
        self.query_one(RequestCard).set_buttons(enabled=False)
        password_outcome: str | None = None
        decided = False
        try:
            await self._remote.decide(request, decision, biometric=biometric)
            decided = True
            if decision == "approve" and request.password_by == "phone":  # noqa: S105 (who asks it)
                self._awaiting_password = True
                password_outcome = await ask_password(self._ask, self._remote, request)
        except PhoneError as e:
            if e.status == 410:
                self.post_message(self.Decided(request, decision, "expired"))
                self.drop_current(translate("request.expired"))
            elif e.status == 409:
                self.post_message(self.Decided(request, decision, "ended"))
                self.drop_current(translate("request.answered"))
            elif e.status == 403 and e.code == "deviceDeactivated":
                self.post_message(self.Decided(request, decision, "deactivated"))
                self.show_deactivated(e.deactivated_reason)
            else:
                raise
            return
        except httpx.HTTPError:
            # The answer did not reach the bank (or its reply did not come back): the request stays
            # on the card, to be answered again; the long-poll says when the bank is back.
            self.message = translate("password.not_sent" if decided else "answer.unreachable")
            return
        finally:
            self._awaiting_password = False
        if password_outcome is not None:
            outcome = {LOCKED: "passwordLocked", ENDED: "ended"}.get(password_outcome, "done")
            self.post_message(self.Decided(request, decision, outcome))
            if self.current is not None and self.current.order_ref == request.order_ref:  # not expired meanwhile
                self.drop_current(outcome_text(password_outcome, request.kiosk_name))
            return
        self.post_message(self.Decided(request, decision, "done"))
        if decision == "decline":
            self.drop_current(translate("request.declined"))
        elif request.method == "biometric":
            self.drop_current(translate("request.approved_logged_in"))
        else:
            self.drop_current(translate("request.approved"))

    async def _ask(self, dialog: ModalScreen[str | None]) -> str | None:
        """Open a dialog for the current request; it closes by itself if the request ends meanwhile."""
        self._dialog = dialog
        try:
            return await self.app.push_screen_wait(dialog)
        finally:
            self._dialog = None

    async def _confirm(self) -> str | None:
        """ "pin" or "biometric" once the customer has proved it is them; None when they gave up.
        A wrong PIN opens the PIN dialog again at once, with the attempts left, as the BankID app
        does; a cancel, a lock, an unreachable signer or the request's end close it."""
        if self.pin_provider is not None:
            confirmed, _ = await self._pin_checked(self.pin_provider())
            return confirmed
        if self.biometric:
            choice = await self._ask(BiometricDialog())
            if choice != "pin":
                return choice
        request, prompt = self.current, None
        while True:
            typed = await self._ask(PinDialog(prompt, attempts_left=self.attempts_left))
            if typed is None:
                return None
            confirmed, again = await self._pin_checked(typed)
            if confirmed is not None or not again or self.current is not request:
                return confirmed
            prompt = translate("pin.wrong")

    async def _pin_checked(self, pin: str) -> tuple[str | None, bool]:
        """("pin", False) for a right PIN; (None, True) for a wrong one, which may be typed again;
        (None, False) when the phone is locked or deactivated (the deactivated view says why) or the
        signer cannot say. The reason is in `message`, the attempts left in `attempts_left`."""
        if self.check_pin is None:
            return "pin", False
        try:
            right = await asyncio.to_thread(self.check_pin, pin)
        except KeystoreError as e:  # the signer's answer: attempts left, locked, deactivated, unreachable
            self.attempts_left = e.attempts_left if isinstance(e, WrongPin) else None
            if isinstance(e, DeviceLocked):
                self.show_deactivated("locked")
            elif isinstance(e, DeviceDeactivated):
                self.show_deactivated(e.deactivated_reason)
            else:
                self.message = pin_refusal(e)
            return None, isinstance(e, WrongPin)
        if not right:
            self.message = pin_refusal(None)
            return None, True
        self.attempts_left = None
        return "pin", False

    # -- failures ---------------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.node is self and event.state == WorkerState.ERROR:
            error = event.worker.error
            reason = error.reason if isinstance(error, PhoneError) else f"{type(error).__name__}: {error}"
            self.app.push_screen(ErrorDialog(reason))

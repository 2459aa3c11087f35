"""The "Min BankID" screen: whether the app is activated, for whom and since when, this device,
biometric login on or off, and the last requests this phone answered (what `tillit-phone status`
shows, from the same `phone.account.status_data`).

Opened with `m` from the requests screen, closed with Escape. `b` turns biometric login on or off: it
asks for the app PIN, tells the signer (`POST /v1/app/settings`), and only when the signer has stored
it calls `on_biometric(on)` for the host to keep it (the profile, the requests screen).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

import httpx
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Label, Static
from textual.worker import Worker, WorkerState

from tillit.phone.client import PhoneError
from tillit.phone.i18n import translate
from tillit.phone.keystore import KeystoreError
from tillit.phone.screens.error import ErrorDialog
from tillit.phone.screens.pin import PinDialog, pin_refusal
from tillit.phone.widgets.request_card import kind_title
from tillit.phone.widgets.request_panel import PhoneLike

HISTORY_SHOWN = 10


def local_time(iso: str | None) -> str:
    """An ISO time as the screen shows it: "2024-05-02T13:45:10+02:00" -> "02.05.2024 13:45"."""
    if not iso:
        return "–"
    try:
        return datetime.fromisoformat(iso).strftime("%d.%m.%Y %H:%M")
    except ValueError:
        return iso


def state_text(data: dict[str, Any]) -> tuple[str, str]:
    """The headline and its class: on, off or none."""
    if data.get("deactivated"):
        if data.get("deactivatedAt"):
            return translate("min_bankid.deactivated_at", at=local_time(data.get("deactivatedAt"))), "off"
        return translate("min_bankid.deactivated"), "off"
    if data.get("activated"):
        return translate("min_bankid.activated"), "on"
    return translate("min_bankid.not_activated"), "none"


def details(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(id, what, value) of each line under the headline."""
    return [
        ("owner", translate("min_bankid.owner"), data.get("customerName") or "–"),
        ("number", translate("min_bankid.number"), data.get("personalNumberMasked") or "–"),
        ("since", translate("min_bankid.since"), local_time(data.get("activatedAt"))),
        ("device-name", translate("min_bankid.device_name"), data.get("deviceName") or "–"),
        (
            "biometric",
            translate("min_bankid.biometric"),
            translate(f"min_bankid.{'on' if data.get('biometric') else 'off'}"),
        ),
    ]


def outcome_text(outcome: str) -> str:
    """How an answered request ended, in words; an outcome the catalog does not know shows as it is."""
    key = f"history.outcome.{outcome}"
    text = translate(key)
    return outcome if text == key else text


def history_lines(entry: dict[str, Any]) -> str:
    """One answered request in two lines: when and the answer; what it was, where, the reference."""
    decision = entry.get("decision")
    verb = translate(f"history.{decision}") if decision in ("approve", "decline") else "?"
    outcome = entry.get("outcome") or "done"
    answer = verb if outcome == "done" else f"{verb} · {outcome_text(outcome)}"
    kind = kind_title(entry.get("kind") or "")
    if entry.get("method") == "biometric":
        kind = translate("history.without_password", kind=kind)
    where = " · ".join(part for part in (kind, entry.get("kioskName") or "", entry.get("reference") or "") if part)
    return f"{local_time(entry.get('at'))}  {answer}\n{where}"


def entry_text(entry: dict[str, Any]) -> Text:
    when_and_answer, what = history_lines(entry).split("\n", 1)
    return Text.assemble((when_and_answer, "bold"), "\n", what)


class MinBankIDScreen(Screen[None]):
    CSS_PATH = "min_bankid.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", translate("key.back"), id="phone.min_bankid.close"),
        Binding("b", "toggle_biometric", translate("key.biometric"), id="phone.min_bankid.biometric"),
    ]

    message: reactive[str] = reactive("")

    def __init__(
        self,
        client: PhoneLike,
        status: Callable[[], dict[str, Any]],
        *,
        check_pin: Callable[[str], bool] | None = None,
        on_biometric: Callable[[bool], None] | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self.status = status
        self.check_pin = check_pin
        self.on_biometric = on_biometric
        self.data: dict[str, Any] = status()

    def compose(self) -> ComposeResult:
        yield Label(translate("min_bankid.title"), id="top")
        with VerticalScroll(id="body"):
            yield Label("", id="state", markup=False)
            with Grid(id="details"):
                for key, what, _ in details(self.data):
                    yield Label(what, classes="what")
                    yield Label("", id=key, classes="value", markup=False)
            yield Label(translate("min_bankid.biometric_hint"), id="biometric-hint")
            yield Label(translate("min_bankid.history_title"), id="history-title")
            yield Vertical(id="history")
        yield Label("", id="message", markup=False)
        yield Footer()

    async def on_mount(self) -> None:
        await self.show(self.data)

    async def show(self, data: dict[str, Any]) -> None:
        self.data = data
        self.refresh_bindings()
        headline, state = state_text(data)
        label = self.query_one("#state", Label)
        label.update(headline)
        label.set_classes(state)
        for key, _, value in details(data):
            self.query_one(f"#{key}", Label).update(value)
        history = self.query_one("#history", Vertical)
        await history.remove_children()
        entries = list(data.get("history") or [])[:HISTORY_SHOWN]
        if entries:
            await history.mount_all(
                Static(entry_text(e), id=f"entry-{i}", classes="entry") for i, e in enumerate(entries)
            )
        else:
            await history.mount(Label(translate("min_bankid.no_history"), id="no-history"))

    def watch_message(self, message: str) -> None:
        label = self.query_one("#message", Label)
        label.update(message)
        label.display = bool(message)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Biometric login cannot be turned on or off on a deactivated phone: no `b` then."""
        if action == "toggle_biometric":
            return not self.data.get("deactivated")
        return True

    def action_close(self) -> None:
        self.dismiss(None)

    def action_toggle_biometric(self) -> None:
        self.toggle_biometric()

    @work(exclusive=True, group="min-bankid", exit_on_error=False)
    async def toggle_biometric(self) -> None:
        """The app PIN, then the signer, then the host: a failure at any step changes nothing."""
        on = not self.data.get("biometric")
        prompt = translate("biometric.pin_prompt_on" if on else "biometric.pin_prompt_off")
        pin = await self.app.push_screen_wait(PinDialog(prompt))
        if pin is None:
            return
        if self.check_pin is not None:
            try:
                right = await asyncio.to_thread(self.check_pin, pin)
            except KeystoreError as e:  # the signer's answer: attempts left, locked, deactivated, unreachable
                self.message = translate("biometric.pin_refused", refusal=pin_refusal(e))
                return
            if not right:
                self.message = translate("biometric.wrong_pin")
                return
        self.message = translate("biometric.sending")
        remote = self.client.aio()
        try:
            stored = (await remote.settings(biometric=on)).biometric
        except PhoneError as e:
            if e.status == 403 and e.code == "deviceDeactivated":
                self.message = translate("biometric.deactivated")
            else:
                self.message = translate("biometric.refused", reason=e.reason)
            return
        except httpx.HTTPError:
            self.message = translate("biometric.unreachable")
            return
        finally:
            await remote.aclose()
        if self.on_biometric is None:
            await self.show({**self.status(), "biometric": stored})  # nobody keeps it: show what the signer has
        else:
            self.on_biometric(stored)
            await self.show(self.status())
        self.message = translate("biometric.turned_on" if stored else "biometric.turned_off")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.node is self and event.state == WorkerState.ERROR:
            error = event.worker.error
            self.message = ""
            self.app.push_screen(ErrorDialog(f"{type(error).__name__}: {error}"))

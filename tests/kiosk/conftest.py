"""Fixtures for the kiosk's tests: the app against the real daemon, or against a fake for snapshots."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.daemon import Daemon, make_daemon
from tests.factories import fresh_adult
from tillit.kiosk.app import KioskApp
from tillit.kiosk.client import SignerClient
from tillit.kiosk.settings import KioskSettings
from tillit.phone.client import PhoneClient, raise_for_error
from tillit.signer.wire import AppRequest

SIZE = (80, 24)
CONTROL_ANSWERS = ("Pusen", "Strandgata", "Ingrid")
METHODS = ("app", "codedevice", "biometric")  # in the method screen's order


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (marked `anyio`) run on asyncio, as Textual does."""
    return "asyncio"


def kiosk_settings(**overrides: Any) -> KioskSettings:
    """Settings for a test kiosk: English, test numbers allowed, quick polling; nothing from the environment."""
    values: dict[str, Any] = {
        "language": "en",
        "allow_test_numbers": True,
        "poll_seconds": 0.1,
        "idle_seconds": 60,
        "admin_pin": "9999",
    }
    values.update(overrides)
    return KioskSettings(**values)


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One running signer for all the kiosk's tests (each test enrols customers of its own)."""
    d = make_daemon(tmp_path_factory.mktemp("kiosk-daemon") / "home")
    d.start()
    yield d
    d.stop()


@pytest.fixture
def make_app(daemon: Daemon, tmp_path: Path) -> Iterator[Callable[..., KioskApp]]:
    """A factory of kiosk apps on the module's daemon, each writing signed files to its own folder."""
    clients: list[SignerClient] = []

    def make(**overrides: Any) -> KioskApp:
        client = SignerClient(daemon.url, daemon.kiosk_token)
        clients.append(client)
        overrides.setdefault("output_dir", tmp_path / "signed")
        return KioskApp(kiosk_settings(**overrides), client)

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def customer(daemon: Daemon) -> Iterator[tuple[str, PhoneClient]]:
    """A fresh enrolled adult with an active phone (password tests.daemon.PASSWORD)."""
    number = fresh_adult()
    daemon.enrol(number, "Kari Nordmann")
    phone = daemon.add_device(number)
    yield number, phone
    phone.close()


async def until(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    """Let the app run until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            app = pilot.app
            raise AssertionError(f"timed out waiting for {what or condition}: screen {app.screen!r}")
        await pilot.pause(0.05)


async def on_screen(pilot: Pilot[Any], name: str, timeout: float = 15.0) -> None:
    def shown() -> bool:
        screen = pilot.app.screen
        return type(screen).__name__ == name and screen.is_mounted

    await until(pilot, shown, timeout, what=name)
    await pilot.pause()


async def focus_on(pilot: Pilot[Any], widget_id: str, timeout: float = 5.0) -> None:
    """The focused widget becomes `widget_id` (the next thing to fill)."""

    def focused() -> bool:
        widget = pilot.app.focused
        return widget is not None and widget.id == widget_id

    await until(pilot, focused, timeout, what=f"focus on #{widget_id}")


def text_of(pilot: Pilot[Any], selector: str) -> str:
    """The text of a Static; a Rich renderable in it (the receipt's table) as text, each row on one line."""
    from rich.console import Console
    from rich.table import Table
    from textual.widgets import Static

    static = pilot.app.screen.query_one(selector, Static)
    if isinstance(static.content, Table):
        console = Console(width=1000, record=True, file=io.StringIO())
        console.print(static.content)
        return console.export_text()
    return str(static.render())


async def phone_answers(
    phone: PhoneClient, decision: str = "approve", wait: float = 10, biometric: bool = False
) -> AppRequest:
    """The phone takes the next request and approves or declines it (off the app's event loop);
    `biometric`: approved with the fingerprint (a login without password, where the app allows it)."""

    def answer() -> AppRequest:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            found = phone.requests(wait=max(0.1, deadline - time.monotonic())).requests
            if found:
                phone.decide(found[0], decision, biometric=biometric)
                return found[0]
        raise AssertionError("the phone never saw a request")

    return await asyncio.to_thread(answer)


def allow_biometric(phone: PhoneClient, on: bool = True) -> None:
    """The customer turns login without password (biometrics or app PIN) on in the app."""
    raise_for_error(phone.request("POST", "/v1/app/settings", {"biometric": on}))


def enrol_with_answers(daemon: Daemon, number: str, name: str = "Kari Nordmann") -> None:
    """An enrolled adult with control questions answered (CONTROL_ANSWERS), for a forgotten password."""
    daemon.enrol(number, name, control_answers=list(CONTROL_ANSWERS))


def feedback_count(daemon: Daemon, kind: str) -> int:
    """How many ratings the signer holds for this kind of order (`tillit-signer feedback report --json`)."""
    rows = json.loads(daemon.run("tillit-signer", "feedback", "report", "--json").stdout)
    return sum(int(row["count"]) for row in rows if row["kind"] == kind)


async def choose_method(pilot: Pilot[Any], method: str = "app") -> None:
    """The method screen (no remembered method: a first login, or the first after activating the app)."""
    await on_screen(pilot, "MethodScreen")
    await pilot.press(*(["down"] * METHODS.index(method)), "enter")


def footer_text(pilot: Pilot[Any]) -> str:
    return " ".join(str(key.description) for key in pilot.app.screen.query("FooterKey"))


async def skip_feedback(pilot: Pilot[Any], then: str = "WelcomeScreen") -> None:
    """The feedback question after a logout or a signature: Escape skips it."""
    await on_screen(pilot, "FeedbackDialog")
    await pilot.press("escape")
    await on_screen(pilot, then)


async def type_text(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*text)

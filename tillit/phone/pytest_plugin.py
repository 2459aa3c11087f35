"""Tillit's testers' kit: pytest fixtures for a throwaway signer and customers with activated phones.

Installed with Tillit as a `pytest11` entry point (named `tillit`), so a project that depends on Tillit
(`pip install "tillit[testkit]"`) gets these fixtures without any import; docs/testers-kit.md is the
guide, with every argument:

- `tillit_settings` (session): `{}`; override it to give the signer TILLIT_* settings, e.g.
  `{"TILLIT_ORDER_TTL_SECONDS": "5"}`. The kit's commands run without the TILLIT_* variables (and
  SOFTHSM2_CONF) of the environment; pytest's header names those it left out.
- `tillit_home` (session): a throwaway TILLIT_HOME with a SoftHSM token and a CA, made with the
  `tillit-hsm` commands for a free loopback port chosen first (TILLIT_PORT and TILLIT_PUBLIC_URL),
  so the certificates' CRL and OCSP URLs point at the kit's signer. `.path`, `.env`, `.port`, `.public_url`,
  `.run(tool, *args)`, `.outbox()`.
- `tillit_signer` (session): `tillit-signer serve` on that port, with one kiosk. `.url`,
  `.kiosk_token`, `.kiosk_id`, `.kiosk()` (an `httpx.Client` with the kiosk's bearer token; close it,
  or use `with`), `.new_customer()`, `.enrol()`, `.activate()`, `.outbox()`, `.verify_completion()`.
- `tillit_customer`: a freshly enrolled customer (a synthetic number) whose phone was activated the
  way a customer does it: SMS and e-mail codes read from the signer's outbox, then the password.
  `.personal_number`, `.name`, `.password`, `.mobile`, `.email`, `.phone`.
- `tillit_phone`: that customer's phone (`TillitPhone`), driving the real `tillit-phone` command:
  `.approve(wait=10)`, `.decline(wait=10, reference=None)`, `.scan(qr_content)`, `.autostart(token)`,
  `.status()`, `.run(...)`.
- `tillit_relying_party` (session): a relying party on the signer's BankID RP API face
  (`tillit-signer rps add`): `.cert`, `.key`, `.certificates` (pybankid's tuple), `.ca` (the CA file
  to trust), `.url` (https://127.0.0.1:<port>/rp/v6.0/), `.client()`.

A command that fails while a fixture is set up fails the test with one line (the command and what it
said), not a traceback.

Everything goes through the commands and the HTTP API, as an integrator's tests would: neither this
module nor the kit's parts (`tillit.phone.testkit`) import anything of the signer or the HSM layer.
The classes a tester's tests name (`TillitSigner`, `TillitCustomer`, `TillitPhone`, `TillitHome`,
`TillitRelyingParty`)
are importable from here, as docs/testers-kit.md shows.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

import pytest

from tillit.phone.testkit.commands import TillitError
from tillit.phone.testkit.home import TillitHome, dropped_variables, make_home
from tillit.phone.testkit.phone import TillitCustomer, TillitPhone
from tillit.phone.testkit.relying_party import TillitRelyingParty
from tillit.phone.testkit.signer import TillitSigner, start_signer

# What a tester's tests import from the plugin (docs/testers-kit.md); the fixtures return them.
__all__ = ["TillitCustomer", "TillitHome", "TillitPhone", "TillitRelyingParty", "TillitSigner"]

T = TypeVar("T")


def failing_in_one_line(make: Callable[[], T]) -> T:
    """`make()`, a TillitError turned into a test failure of one line (no traceback of the kit)."""
    try:
        return make()
    except TillitError as e:
        failure = str(e)
    pytest.fail(failure, pytrace=False)  # outside `except`: no "during handling" chain in the report


def pytest_report_header(config: pytest.Config) -> str | None:
    """A line in pytest's header naming the variables of the environment the kit's commands run
    without, when there are any (pass settings through the `tillit_settings` fixture instead)."""
    dropped = dropped_variables()
    if not dropped:
        return None
    return f"tillit testers' kit: its signer runs without {', '.join(dropped)} (set them in tillit_settings)"


@pytest.fixture(scope="session")
def tillit_settings() -> Mapping[str, str]:
    """TILLIT_* settings (name -> text) for every command in the kit's home, its signer included;
    `{}` unless a project overrides this fixture. The environment's own TILLIT_* are not used."""
    return {}


@pytest.fixture(scope="session")
def tillit_home(tmp_path_factory: pytest.TempPathFactory, tillit_settings: Mapping[str, str]) -> TillitHome:
    """A throwaway TILLIT_HOME with a SoftHSM token and a CA for a free loopback port (`make_home`)."""
    return failing_in_one_line(lambda: make_home(tmp_path_factory.mktemp("tillit") / "home", tillit_settings))


@pytest.fixture(scope="session")
def tillit_signer(tillit_home: TillitHome) -> Iterator[TillitSigner]:
    """`tillit-signer serve` on 127.0.0.1 and the home's port, with one kiosk (`start_signer`);
    stopped at the end of the session, also when the session is ended by SIGTERM (`stopped_on_sigterm`)."""
    with stopped_on_sigterm():
        signer = failing_in_one_line(lambda: start_signer(tillit_home))
        try:
            yield signer
        finally:
            signer.stop()


@contextlib.contextmanager
def stopped_on_sigterm() -> Iterator[None]:
    """While the kit's signer runs, SIGTERM to the test process (a CI job's time limit, `kill`) ends
    the session as Ctrl-C does, so that the fixtures' teardown stops the signer; by Python's default
    the process died at once and left `tillit-signer serve` running. Only where nobody else handles
    SIGTERM, and only while the signer runs: a project that uses none of the kit is left alone."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.fixture
def tillit_customer(tillit_signer: TillitSigner) -> TillitCustomer:
    """A fresh enrolled customer whose phone is activated (`TillitSigner.new_customer()`)."""
    return failing_in_one_line(tillit_signer.new_customer)


@pytest.fixture
def tillit_phone(tillit_customer: TillitCustomer) -> TillitPhone:
    """The customer's phone: `.approve(wait=...)`, `.decline(...)`, `.status()` run `tillit-phone`."""
    assert tillit_customer.phone is not None
    return tillit_customer.phone


@pytest.fixture(scope="session")
def tillit_relying_party(tillit_signer: TillitSigner) -> TillitRelyingParty:
    """A relying party of the signer's BankID RP API face (`TillitSigner.add_relying_party()`): its
    client certificate and key, the CA file to trust and the base URL."""
    return failing_in_one_line(tillit_signer.add_relying_party)

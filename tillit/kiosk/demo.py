"""`tillit-kiosk demo`: the whole system in one process, for one person to walk through alone.

The only kiosk module that imports the signer and the HSM layer (import-linter exempts it by name).
It prepares TILLIT_HOME once (SoftHSM token, CA, a kiosk token, the demo customers, Kari's phone
profile, Ola's code device, sample agreements), then on every run starts the signer in-process on a
fixed loopback port (8700 unless told otherwise; a busy port is an error, never silently changed,
because Kari's phone profile points there) and shows the kiosk, talking to it over HTTP like any
kiosk, with Kari's phone beside it.

The demo data is fixed, so guides and tests can rely on it: demo_customers.py lists it.

A password changed with F5 (forgotten password) shows on the welcome screen from then on; in a later
run, which cannot know it, the welcome screen says it was changed instead of showing the old one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import uvicorn
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tillit.cli_errors import require_terminal
from tillit.hsm.ca import CertificateAuthority
from tillit.hsm.errors import HsmError
from tillit.hsm.otp import CodeDeviceFile, issue_code_device
from tillit.hsm.provision import initialise_token
from tillit.hsm.settings import HsmSettings
from tillit.kiosk.demo_customers import (
    AGREEMENTS,
    CODE_DEVICE_SERIAL,
    CONTROL_ANSWERS,
    CUSTOMERS,
    EMAILS,
    EMMA,
    KARI,
    MOBILES,
    OLA,
    PHONE_PIN,
    PHONE_PROFILE,
)
from tillit.kiosk.state import DemoCustomer
from tillit.phone.keystore import Keystore, KeystoreError
from tillit.signer.device_pins import DevicePins
from tillit.signer.errors import NotFound, SignerError
from tillit.signer.runtime import open_signer
from tillit.signer.sample_documents import agreement_pdf
from tillit.signer.service import Signer
from tillit.signer.settings import SignerSettings
from tillit.signer.wire import approval_message

DEMO_PORT = 8700
ADMIN_PIN = "0000"
KIOSK_NAME = "Tillit demo, Bergen sentrum"

log = logging.getLogger("tillit.demo")


class DemoError(Exception):
    """Why the demo cannot start, for the person who ran it."""


@dataclass(frozen=True)
class DemoHome:
    home: Path
    port: int
    kiosk_token: str
    code_device: Path
    customers: tuple[DemoCustomer, ...] = CUSTOMERS
    """The demo customers, without the password of one who changed it at the kiosk."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def default_home() -> Path:
    return Path.home() / ".local" / "share" / "tillit-demo"


def demo_port(port: int | None = None) -> int:
    """--port, else TILLIT_KIOSK_DEMO_PORT, else 8700; a port that cannot be one is a DemoError."""
    if port is None:
        given = os.environ.get("TILLIT_KIOSK_DEMO_PORT") or str(DEMO_PORT)
        try:
            port = int(given)
        except ValueError:
            raise DemoError(f"TILLIT_KIOSK_DEMO_PORT={given!r} is not a port number (1-65535)") from None
    if not 1 <= port <= 65535:
        raise DemoError(f"port {port} is not a port number (1-65535)")
    return port


def check_port_free(port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise DemoError(
                f"port {port} on 127.0.0.1 is in use (another demo or `tillit-signer serve`?). "
                f"The demo's phone profile points at that port, so the demo does not pick another: stop the "
                f"other program, or choose a port for this home with --port / TILLIT_KIOSK_DEMO_PORT."
            ) from None


def _say(text: str) -> None:
    print(f"tillit demo: {text}", flush=True)


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


def prepare(home: Path, port: int) -> DemoHome:
    """Make TILLIT_HOME ready for the demo; a second call finds everything in place and changes nothing
    (except new agreements when none wait). A home whose CA was made for another port is refused."""
    home.mkdir(parents=True, exist_ok=True)
    hsm_settings = HsmSettings(home=home)
    if not (home / "tokens").is_dir() or not any((home / "tokens").iterdir()):
        _say(f"creating the SoftHSM token in {home}")
        try:
            initialise_token(hsm_settings)
        except HsmError as e:
            raise DemoError(f"cannot create the HSM token: {e}") from e
    settings = _signer_settings(home, port)
    try:
        with open_signer(settings) as signer:
            authority = CertificateAuthority.for_home(signer.hsm)
            if not authority.initialised:
                _say("creating the CA (root, issuing CA, OCSP responder; keys in the token)")
                authority.init("Tillit demo", public_url=settings.base_url)
            made_for = authority.public_url
            if made_for is not None and made_for != settings.base_url:
                # Its certificates name that URL for CRLs and OCSP: served elsewhere, every signed
                # document would point where nothing answers (`serve` refuses the same).
                raise DemoError(
                    f"this home's CA was made for {made_for}, where its certificates point for CRLs and OCSP:"
                    f" run the demo on port {made_for.rsplit(':', 1)[-1]} (--port), or give it a new TILLIT_HOME"
                )
            token = _kiosk_token(home, signer)
            for customer in (KARI, OLA):
                _enrol(signer, customer)
            _phone(home, signer, port)
            _enrol(signer, EMMA, guardian=KARI.personal_number)
            _guardian_approves(home, signer)
            code_device = _code_device(home, signer)
            customers = tuple(_known_password(signer, customer) for customer in CUSTOMERS)
            waiting = [a for a in signer.agreements.all(KARI.personal_number) if a.signed_at is None]
            if not waiting:
                _say("queueing sample agreements for Kari Nordmann")
                for title, name, pages in AGREEMENTS:
                    signer.agreements.add(KARI.personal_number, title, name, agreement_pdf(title, KARI.name, pages))
    except SignerError as e:
        raise DemoError(f"cannot prepare the demo home {home}: {e}") from e
    except HsmError as e:
        raise DemoError(f"the HSM in {home} is not usable: {e}") from e
    return DemoHome(home=home, port=port, kiosk_token=token, code_device=code_device, customers=customers)


def _signer_settings(home: Path, port: int) -> SignerSettings:
    return SignerSettings(
        home=home,
        host="127.0.0.1",
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        allow_test_numbers=True,
    )


def _kiosk_token(home: Path, signer: Signer) -> str:
    path = home / "kiosk.token"
    if path.exists():
        token = path.read_text().strip()
        try:
            signer.kiosk_for_token(token)
            return token
        except SignerError:
            pass  # revoked, or from another database: make a new one
    _say("adding the demo kiosk")
    _, token = signer.add_kiosk(KIOSK_NAME)
    _write_secret(path, token)
    return token


def _enrol(signer: Signer, customer: DemoCustomer, guardian: str | None = None) -> None:
    try:
        signer.customer(customer.personal_number)
        return
    except NotFound:
        pass
    _say(f"enrolling {customer.name} ({customer.personal_number})")
    signer.enrol(
        customer.personal_number,
        customer.name,
        MOBILES[customer.personal_number],
        EMAILS[customer.personal_number],
        customer.password,
        guardian_number=guardian,
        control_answers=CONTROL_ANSWERS.get(customer.personal_number),
    )


def _known_password(signer: Signer, customer: DemoCustomer) -> DemoCustomer:
    """The customer as the welcome screen lists them: without the password when it is no longer theirs
    (changed with F5 at the kiosk in an earlier run)."""
    password_hash = signer.customer(customer.personal_number).password_hash
    return customer if signer.passwords.verify(password_hash, customer.password) else replace(customer, password="")


def _phone(home: Path, signer: Signer, port: int) -> None:
    """Kari's phone profile `kari` (app PIN 2580) with its key bound as her one active device."""
    url = f"http://127.0.0.1:{port}"
    keystore = Keystore(home / "phone")
    customer = signer.customer(KARI.personal_number)
    active = signer.active_device_info(customer.id)
    if keystore.exists(PHONE_PROFILE):
        try:
            profile = keystore.load(PHONE_PROFILE)
        except KeystoreError:
            profile = None
        # A profile from before the signer checked the app PIN (no unlock key) is made anew.
        current = profile is not None and profile.unlock_key is not None
        if profile is not None and current and active is not None and profile.device_id == active.get("id"):
            if profile.server != url:
                profile.server = url
                keystore.save(profile)
            return
    _say("activating the BankID app on Kari's phone (profile 'kari', app PIN 2580)")
    profile, _ = keystore.create(PHONE_PROFILE, PHONE_PIN, url)
    device = signer.bind_device(customer, profile.public_key_pem.encode(), "Karis telefon", how="demo")
    assert profile.pending_pin is not None
    DevicePins(signer.store, signer.clock).register(device, profile.pending_pin.registration())
    signer.set_biometric(device, True)  # so that the kiosk's login without password can be shown
    profile.biometric = True
    profile.device_id = device.id
    profile.personal_number = customer.personal_number
    profile.customer_name = customer.name
    profile.device_name = "Karis telefon"
    profile.activated_at = time.time()
    keystore.save(profile)


def _guardian_approves(home: Path, signer: Signer) -> None:
    """Kari approves, as guardian, Emma's BankID on her phone; left pending, the request would be the first
    thing `tillit-phone --profile kari approve` answers, instead of the login the person just started."""
    profile = Keystore(home / "phone").load(PHONE_PROFILE)
    with signer.store.tx() as tx:
        device = tx.device(profile.device_id or "")
    if device is None:
        return
    requests = [r for r in signer.pending_requests(device) if r.kind == "guardian"]
    if not requests:
        return
    _say("Kari approves Emma's BankID as her guardian")
    pins = DevicePins(signer.store, signer.clock)  # the signer is in this process: no HTTP yet
    key = profile.unlock(PHONE_PIN, release=lambda verifier: pins.check(device.id, verifier))
    for request in requests:
        signature = key.sign(approval_message(request.challenge, "approve"), ec.ECDSA(hashes.SHA256()))
        signer.decide(device, request.order_ref, "approve", signature)


def _code_device(home: Path, signer: Signer) -> Path:
    """Ola's code device: the secret in the HSM, the device file (the simulator) in codedevices/."""
    path = home / "codedevices" / f"{CODE_DEVICE_SERIAL}.json"
    if path.exists():
        return path
    _say(f"issuing code device {CODE_DEVICE_SERIAL} to Ola Nordmann")
    path.parent.mkdir(parents=True, exist_ok=True)
    device = issue_code_device(signer.hsm, CODE_DEVICE_SERIAL)
    device.dump(path)
    signer.code_devices.assign(OLA.personal_number, CODE_DEVICE_SERIAL)
    return path


class EmbeddedSigner:
    """The signer's HTTP API under uvicorn in a background thread, on 127.0.0.1:port."""

    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.port = port
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._stack = contextlib.ExitStack()
        self.error: BaseException | None = None

    def start(self, timeout: float = 30.0) -> None:
        # FastAPI and the daemon load only when the embedded signer starts.
        from tillit.signer.http.app import create_app
        from tillit.signer.http.server import DrainingServer

        stack = self._stack
        signer = stack.enter_context(open_signer(_signer_settings(self.home, self.port)))
        signer.recover()
        signer.tokens.jwks()
        config = uvicorn.Config(
            create_app(signer),
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=1,  # nothing in flight may hold the demo open for long
        )
        # The phone panel's long-poll is answered at once when the demo stops, not cancelled.
        server = DrainingServer(config, signer.notifier)
        self._server = server

        def serve() -> None:
            try:
                server.run()
            except BaseException as e:
                self.error = e

        self._thread = threading.Thread(target=serve, name="tillit-signer", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                why = f": {self.error}" if self.error else " (see demo.log in TILLIT_HOME)"
                raise DemoError(f"the signer did not start on 127.0.0.1:{self.port}{why}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._stack.close()
        self._server, self._thread = None, None


def _log_to_file(home: Path) -> None:
    """Everything the signer and uvicorn log goes to TILLIT_HOME/demo.log, not over the kiosk's screen."""
    handler = logging.FileHandler(home / "demo.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def code_reader(path: Path) -> Callable[[], str]:
    device = CodeDeviceFile.load(path)
    return device.code


def run_demo(port: int | None = None, setup_only: bool = False) -> None:
    from tillit.kiosk.app import KioskApp  # the UI (Textual) loaded only to run it, not for --setup-only
    from tillit.kiosk.client import SignerClient  # with the UI, below
    from tillit.kiosk.context import DemoInfo  # with the UI
    from tillit.kiosk.settings import KioskSettings  # with the UI
    from tillit.kiosk.widgets.phone import demo_side  # with the UI (Textual)
    from tillit.phone.client import PhoneClient  # with the UI

    home = Path(os.environ.get("TILLIT_HOME") or default_home()).expanduser().absolute()
    os.environ["TILLIT_HOME"] = str(home)
    os.environ["TILLIT_ALLOW_TEST_NUMBERS"] = "1"
    port = demo_port(port)
    check_port_free(port)
    if not setup_only:  # before anything is prepared: its screen needs one
        require_terminal("tillit-kiosk demo")
    if home.exists() and not home.is_dir():
        raise DemoError(f"TILLIT_HOME={home} is a file, not a directory")
    home.mkdir(parents=True, exist_ok=True)
    _log_to_file(home)
    prepared = prepare(home, port)
    if setup_only:
        _say(f"ready in {home}; signer port {port}")
        return
    embedded = EmbeddedSigner(home, port)
    embedded.start()
    try:
        profile = Keystore(home / "phone").load(PHONE_PROFILE)
        key = profile.unlock(PHONE_PIN)
    except KeystoreError as e:
        embedded.stop()
        raise DemoError(f"Kari's phone profile cannot be opened: {e}") from e
    assert profile.device_id is not None
    phone = PhoneClient(profile.server, profile.device_id, key)
    configured_pin = os.environ.get("TILLIT_KIOSK_ADMIN_PIN")
    admin_pin = configured_pin or ADMIN_PIN
    settings = KioskSettings(
        signer_url=prepared.url,
        token=prepared.kiosk_token,
        output_dir=home / "signed",
        allow_test_numbers=True,
        admin_pin=admin_pin,
    )
    client = SignerClient(prepared.url, prepared.kiosk_token, timeout=settings.timeout_seconds)
    demo = DemoInfo(
        customers=prepared.customers,
        admin_pin=None if configured_pin else ADMIN_PIN,  # a PIN of one's own is not shown on the screen
        side_panels=demo_side(phone, PHONE_PIN, KARI.name, [(OLA.name, code_reader(prepared.code_device))]),
    )
    try:
        KioskApp(settings, client, demo=demo).run()
    finally:
        client.close()
        phone.close()
        embedded.stop()

"""Building a `Signer` from settings: the store, the HSM connection and the service; the store and
the CA ledger alone for the commands that only read (`open_records`), with a bounded look at whether
the HSM opens (`hsm_unavailable`); and the check `serve` makes that it answers where its CA's
certificates point."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tillit.hsm.ca_ledger import CaLedger
from tillit.hsm.ca_ledger_open import open_ledger
from tillit.hsm.client import Hsm
from tillit.hsm.errors import CaNotInitialised, HsmError
from tillit.hsm.settings import HsmSettings
from tillit.signer import errors
from tillit.signer.health import HEALTH_SECONDS, one_line
from tillit.signer.service import Signer
from tillit.signer.settings import SignerSettings
from tillit.signer.store.base import Store
from tillit.signer.store.sqlite import SqliteStore


def _sqlite_path(settings: SignerSettings) -> Path | None:
    """The SQLite database file of these settings; None when the store is PostgreSQL."""
    url = settings.database_url
    if url and url.startswith(("postgresql://", "postgres://")):
        return None
    return Path(url.removeprefix("sqlite:///")) if url else settings.home / "signer.db"


def open_store(settings: SignerSettings) -> Store:
    path = _sqlite_path(settings)
    if path is None:
        from tillit.signer.store.postgres import PostgresStore  # psycopg loads only for a PostgreSQL URL

        # Connections for the worker threads plus the event loop's own short transactions.
        return PostgresStore(str(settings.database_url), max_size=max(16, settings.worker_threads + 8))
    return SqliteStore(path)


def _hsm_settings(settings: SignerSettings) -> HsmSettings:
    # The CA ledger follows the signer's database (`tillit.hsm.ca_ledger_open.open_ledger`).
    return HsmSettings(home=settings.home, database_url=settings.database_url)


@contextmanager
def open_signer(settings: SignerSettings | None = None) -> Iterator[Signer]:
    """The whole signer over the store and the HSM; the HSM is opened first, so while it is away
    this raises its `HsmError` before anything else is opened or changed."""
    settings = settings or SignerSettings()
    hsm = Hsm(_hsm_settings(settings))
    store = open_store(settings)
    signer: Signer | None = None
    try:
        signer = Signer(settings, store, hsm)
        # With PostgreSQL, wake-ups reach the other instances, and theirs this one; an administrator's
        # command (a block, say) wakes the phones long-polling the daemons.
        store.connect_notifier(signer.notifier)
        yield signer
    finally:
        if signer is not None:
            signer.passwords.close()
            signer.context.leases.close()  # before the store: it writes renewals there
            signer.ca.ledger.close()
        store.close()
        hsm.close()


@dataclass(frozen=True)
class Records:
    """The signer's store and the CA ledger, without the HSM: what `open_records` gives."""

    settings: SignerSettings
    store: Store
    ledger: CaLedger


@contextmanager
def open_records(settings: SignerSettings | None = None) -> Iterator[Records]:
    """The store and the CA ledger the signer with these settings uses, and not the HSM: for the
    commands that only read customers' records (`customers list`, `customers show`), which must work
    while the HSM is away. Nothing signs here, and no audit entry is written (none could be
    checkpointed without the HSM). Only where the SQLite database does not exist yet is the HSM
    opened first, raising its `HsmError` when it is away."""
    settings = settings or SignerSettings()
    path = _sqlite_path(settings)
    if path is not None and not path.exists():
        # A home the signer has not used yet, or a mistyped TILLIT_HOME: the HSM is opened first, as
        # `open_signer` opens it, so that a home without a token is refused with the HSM's error
        # before a database is made in it.
        Hsm(_hsm_settings(settings)).close()
    store = open_store(settings)
    try:
        ledger = open_ledger(settings.home, settings.database_url)
        try:
            yield Records(settings, store, ledger)
        finally:
            ledger.close()
    finally:
        store.close()


# How long `hsm_unavailable` waits for the HSM to open, as /healthz does: a frozen HSM (a network
# HSM that stopped answering) must not keep support from looking a customer up.
HSM_LOOK_SECONDS = HEALTH_SECONDS


def hsm_unavailable(settings: SignerSettings, within: float = HSM_LOOK_SECONDS) -> str | None:
    """Why the HSM cannot be used now, in one line, or None when it can: it is opened (the module
    loaded, the token found and logged in to) and closed again, as `open_signer` would open it, on a
    daemon thread of its own that is waited for at most `within` seconds."""
    outcome: queue.SimpleQueue[str | None] = queue.SimpleQueue()

    def look() -> None:
        try:
            Hsm(_hsm_settings(settings)).close()
        except HsmError as e:
            outcome.put(one_line(e))
        except Exception as e:  # an HSM that fails some other way cannot be used either; say how
            outcome.put(f"{type(e).__name__}: {one_line(e)}")
        else:
            outcome.put(None)

    # A daemon thread: one stuck in the module (a frozen HSM) must not hold up the command's exit.
    threading.Thread(target=look, name="HSM look", daemon=True).start()
    try:
        return outcome.get(timeout=within)
    except queue.Empty:
        return f"the HSM did not answer within {within:g} s"


def check_public_url(signer: Signer) -> None:
    """Refuse (one line) a signer without a CA, or whose public URL is not the one its CA was made with:
    the certificates the CA issues point there for their CRL, OCSP and issuer, so a daemon
    answering elsewhere leaves them unverifiable. A CA too old to record its URL passes."""
    if not signer.ca.initialised:
        # Without a CA a daemon enrols customers without certificates and can sign nothing.
        raise CaNotInitialised("the CA is not initialised: run `tillit-hsm ca init` before `serve`")
    recorded = signer.ca.public_url
    serving = signer.settings.base_url
    if recorded is not None and recorded != serving and recorded.split(":")[0] != serving.split(":")[0]:
        # Only the scheme differs in kind (TLS switched on after `ca init`, say): this daemon cannot
        # answer at both, so something in front of it must answer at the CA's URL.
        raise errors.InvalidInput(
            f"the signer's public URL {serving} is not its CA's {recorded}, where the certificates point"
            f" for CRLs and OCSP, and this daemon cannot serve both {serving.split(':')[0]} and"
            f" {recorded.split(':')[0]}: put a proxy or load balancer in front that answers at {recorded}"
            f" and set TILLIT_PUBLIC_URL={recorded} (or public_url in tillit.toml), or, in a new home,"
            f" `tillit-hsm ca init --public-url {serving}`"
        )
    if recorded is not None and recorded != serving:
        raise errors.InvalidInput(
            f"the signer's public URL {serving} is not its CA's {recorded}, where the certificates point"
            f" for CRLs and OCSP: set TILLIT_PUBLIC_URL={recorded} (or public_url in tillit.toml) and serve"
            f" there (or, in a new home, `tillit-hsm ca init --public-url {serving}`)"
        )

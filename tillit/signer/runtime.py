"""Building a `Signer` from settings: the store, the HSM connection and the service; and the check
`serve` makes that it answers where its CA's certificates point."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tillit.hsm.client import Hsm
from tillit.hsm.errors import CaNotInitialised
from tillit.hsm.settings import HsmSettings
from tillit.signer import errors
from tillit.signer.service import Signer
from tillit.signer.settings import SignerSettings
from tillit.signer.store.base import Store
from tillit.signer.store.sqlite import SqliteStore


def open_store(settings: SignerSettings) -> Store:
    url = settings.database_url
    if url and url.startswith(("postgresql://", "postgres://")):
        from tillit.signer.store.postgres import PostgresStore  # psycopg loads only for a PostgreSQL URL

        # Connections for the worker threads plus the event loop's own short transactions.
        return PostgresStore(url, max_size=max(16, settings.worker_threads + 8))
    path = url.removeprefix("sqlite:///") if url else str(settings.home / "signer.db")
    return SqliteStore(Path(path))


@contextmanager
def open_signer(settings: SignerSettings | None = None) -> Iterator[Signer]:
    settings = settings or SignerSettings()
    # The CA ledger follows the signer's database (`tillit.hsm.ca_ledger_open.open_ledger`).
    hsm = Hsm(HsmSettings(home=settings.home, database_url=settings.database_url))
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


def check_public_url(signer: Signer) -> None:
    """Refuse (one line) a signer without a CA, or whose public URL is not the one its CA was made with:
    the certificates the CA issues point there for their CRL, OCSP and issuer, so a daemon
    answering elsewhere leaves them unverifiable. A CA too old to record its URL passes."""
    if not signer.ca.initialised:
        # Without a CA a daemon enrols customers without certificates and can sign nothing.
        raise CaNotInitialised("the CA is not initialised: run `tillit-hsm ca init` before `serve`")
    recorded = signer.ca.public_url
    serving = signer.settings.base_url
    if recorded is not None and recorded != serving:
        raise errors.InvalidInput(
            f"the signer's public URL {serving} is not its CA's {recorded}, where the certificates point"
            f" for CRLs and OCSP: set TILLIT_PUBLIC_URL={recorded} (or public_url in tillit.toml) and serve"
            f" there (or, in a new home, `tillit-hsm ca init --public-url {serving}`)"
        )

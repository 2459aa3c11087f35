"""Building a `Signer` from settings: the store, the HSM connection and the service."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hsm.client import Hsm
from hsm.settings import HsmSettings
from signer.service import Signer
from signer.settings import SignerSettings
from signer.store import SqliteStore, Store


def open_store(settings: SignerSettings) -> Store:
    url = settings.database_url
    if url and url.startswith(("postgresql://", "postgres://")):
        from signer.pg_store import PostgresStore  # type: ignore[import-not-found,unused-ignore]

        return PostgresStore(url)  # type: ignore[no-any-return,unused-ignore]
    path = url.removeprefix("sqlite:///") if url else str(settings.home / "signer.db")
    from pathlib import Path

    return SqliteStore(Path(path))


@contextmanager
def open_signer(settings: SignerSettings | None = None) -> Iterator[Signer]:
    settings = settings or SignerSettings()
    hsm = Hsm(HsmSettings(home=settings.home))
    store = open_store(settings)
    try:
        yield Signer(settings, store, hsm)
    finally:
        store.close()
        hsm.close()

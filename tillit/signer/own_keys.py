"""The daemon's own key pairs on the token (the service key, the audit key): made by whichever
instance needs one first, and only once however many instances start together.

PKCS#11 labels are not unique, so two processes that each find no key and each make one leave two
under one label, and every later lookup refuses the label. The look and the making therefore run
under two locks: a lock file in the home, which every process on the home's token takes whatever
database it uses, and the store's (`Store.exclusive`), which every instance sharing the database
(and so the HSM, on other machines) takes: with PostgreSQL an advisory lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tillit.hsm.client import Hsm
from tillit.hsm.keys import Algorithm
from tillit.hsm.settings import held_lock_file, private_dir
from tillit.signer.store.base import Store


@contextmanager
def making_alone(store: Store, home: Path, name: str) -> Iterator[None]:
    """Held while one process makes `name` on the token for every instance (a key pair, the seal key,
    signer/seals.py): the lock file in the home and the store's lock of that name."""
    with held_lock_file(private_dir(home) / "own-keys.lock"), store.exclusive(name):
        yield


def ensure_own_key(store: Store, hsm: Hsm, label: str) -> None:
    """Make the EC P-256 key pair `label` on the token unless it is there (one instance at a time)."""
    if hsm.has_key(label):
        return
    with making_alone(store, hsm.settings.home, f"own-key:{label}"):
        if not hsm.has_key(label):
            hsm.generate_key(label, Algorithm.EC_P256)

"""Logins and signings ask the HSM for their signatures outside the store's write transactions.

SQLite has one writer at a time: an HSM signature made inside `Store.tx()` keeps every other writer
of the process waiting for the HSM, which behind p11-kit or on a network HSM is a round trip or more
each. An in-process `Signer` on a real SoftHSM token completes a login with the password, a
biometric login (the phone's approval completes it) and a signing; every HSM signature (the
completion tokens, and the signing's customer signature, timestamp token, OCSP answer and receipt)
is recorded with whether the thread that asked was inside a write transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.factories import customer_with_phone
from tillit.hsm.ca import CertificateAuthority
from tillit.hsm.client import Hsm
from tillit.hsm.settings import HsmSettings
from tillit.signer.document_checks import NewDocument
from tillit.signer.service import Signer
from tillit.signer.settings import SignerSettings
from tillit.signer.store.sqlite import SqliteStore
from tillit.signer.store.tx import Tx
from tillit.signer.wire import approval_message

pytestmark = pytest.mark.hsm

PASSWORD = "Fjord-Hest-2024"


class WatchedStore(SqliteStore):
    """SQLite, knowing which threads are inside a write transaction."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writing = threading.local()

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        with super().tx() as tx:
            self.writing.now = True
            try:
                yield tx
            finally:
                self.writing.now = False


def test_logins_and_signing_sign_in_the_hsm_outside_write_transactions(
    hsm: Hsm, hsm_settings: HsmSettings, ca: CertificateAuthority, tmp_path: Path
) -> None:
    settings = SignerSettings(home=hsm_settings.home, allow_test_numbers=True, pades_level="B-LTA")
    store = WatchedStore(tmp_path / "signer.db")
    signer = Signer(settings, store, hsm)
    asked: list[tuple[str, bool]] = []

    inside_sign = threading.local()

    def watched(operation: Callable[..., bytes]) -> Callable[..., bytes]:
        def sign(label: str, data: bytes) -> bytes:
            if getattr(inside_sign, "now", False):  # `sign` hashes, then calls `sign_digest`: one signature
                return operation(label, data)
            asked.append((label, getattr(store.writing, "now", False)))
            inside_sign.now = True
            try:
                return operation(label, data)
            finally:
                inside_sign.now = False

        return sign

    try:
        kiosk, _ = signer.add_kiosk("Bergen sentrum")
        number, key, device = customer_with_phone(signer, PASSWORD)
        # The instance's own methods, so that every caller in the signer goes through them.
        hsm.sign = watched(hsm.sign)  # type: ignore[method-assign]
        hsm.sign_digest = watched(hsm.sign_digest)  # type: ignore[method-assign]

        def approve(kind: str, documents: list[Any], method: str = "app") -> str:
            ref = signer.start_order(kiosk, kind, number, "Eg signerer", documents, method=method).order_ref
            (request,) = signer.pending_requests(device)
            approval = key.sign(approval_message(request.challenge, "approve"), ec.ECDSA(hashes.SHA256()))
            signer.decide(device, ref, "approve", approval, biometric=method == "biometric")
            return ref

        assert signer.submit_password(kiosk, approve("auth", []), PASSWORD).status == "complete"
        after_login = len(asked)
        assert after_login == 1  # the completion token
        signer.set_biometric(device, True)
        biometric = approve("auth", [], method="biometric")
        assert signer.collect(kiosk, biometric).status == "complete"
        after_biometric = len(asked)
        assert after_biometric == 2
        document = NewDocument("avtale.txt", "text/plain", b"Avtale om brukskonto\n")
        assert signer.submit_password(kiosk, approve("sign", [document]), PASSWORD).status == "complete"
    finally:
        store.close()

    # The signing's customer signature, timestamp, OCSP answers (made at most once a cache period),
    # completion token and receipt.
    assert len(asked) - after_biometric >= 4, asked
    inside = [label for label, writing in asked if writing]
    assert inside == [], f"HSM signatures made inside a write transaction: {inside}"

"""A login and a signing ask the HSM for their signatures outside the store's write transactions.

SQLite has one writer at a time: an HSM signature made inside `Store.tx()` keeps every other writer
of the process waiting for the HSM, which behind p11-kit or on a network HSM is a round trip or more
each. An in-process `Signer` on a real SoftHSM token completes a login and a signing; every HSM
signature (the customer's, the timestamp token, the OCSP answer, the completion token and the
receipt) is recorded with whether the thread that asked was inside a write transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.factories import fresh_adult
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


def test_login_and_signing_sign_in_the_hsm_outside_write_transactions(
    hsm: Hsm, hsm_settings: HsmSettings, ca: CertificateAuthority, tmp_path: Path
) -> None:
    settings = SignerSettings(home=hsm_settings.home, allow_test_numbers=True, pades_level="B-LTA")
    store = WatchedStore(tmp_path / "signer.db")
    signer = Signer(settings, store, hsm)
    asked: list[tuple[str, bool]] = []

    def watched(operation: Callable[..., bytes]) -> Callable[..., bytes]:
        def sign(label: str, data: bytes) -> bytes:
            asked.append((label, getattr(store.writing, "now", False)))
            return operation(label, data)

        return sign

    try:
        kiosk, _ = signer.add_kiosk("Bergen sentrum")
        number = fresh_adult()
        signer.enrol(number, "Kari Nordmann", "+4791234567", "kari@example.no", PASSWORD)
        key = ec.generate_private_key(ec.SECP256R1())
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        device = signer.add_device(number, public)
        # The instance's own methods, so that every caller in the signer goes through them.
        hsm.sign = watched(hsm.sign)  # type: ignore[method-assign]
        hsm.sign_digest = watched(hsm.sign_digest)  # type: ignore[method-assign]

        def complete(kind: str, documents: list[Any]) -> str:
            ref = signer.start_order(kiosk, kind, number, "Eg signerer", documents).order_ref
            (request,) = signer.pending_requests(device)
            approval = key.sign(approval_message(request.challenge, "approve"), ec.ECDSA(hashes.SHA256()))
            signer.decide(device, ref, "approve", approval)
            return signer.submit_password(kiosk, ref, PASSWORD).status

        assert complete("auth", []) == "complete"
        login_signatures = len(asked)
        document = NewDocument("avtale.txt", "text/plain", b"Avtale om brukskonto\n")
        assert complete("sign", [document]) == "complete"
    finally:
        store.close()

    # The login's completion token; the signing's customer signature, timestamp, OCSP answers (made
    # at most once a cache period), completion token and receipt.
    assert login_signatures >= 1 and len(asked) - login_signatures >= 4, asked
    inside = [label for label, writing in asked if writing]
    assert inside == [], f"HSM signatures made inside a write transaction: {inside}"

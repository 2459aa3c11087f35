"""A signing whose order another instance took over meanwhile is not released (signer/leases.py).

An in-process `Signer` on a real SoftHSM token: a sign order is approved, then put in `signing` as
another instance's that took it over (its runner). This instance's signing of it ends without
releasing anything; the same order back under this instance completes with one signature.
"""

from __future__ import annotations

import json
from pathlib import Path

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
from tillit.signer.wire import approval_message

pytestmark = pytest.mark.hsm

PASSWORD = "Fjord-Hest-2024"


def test_a_signing_taken_over_by_another_instance_is_not_released(
    hsm: Hsm, hsm_settings: HsmSettings, ca: CertificateAuthority, tmp_path: Path
) -> None:
    settings = SignerSettings(home=hsm_settings.home, allow_test_numbers=True, pades_level="B-B")
    store = SqliteStore(tmp_path / "signer.db")
    signer = Signer(settings, store, hsm)
    try:
        kiosk, _ = signer.add_kiosk("Bergen sentrum")
        number, key, device = customer_with_phone(signer, PASSWORD)
        document = NewDocument("avtale.txt", "text/plain", b"Avtale om brukskonto\n")
        ref = signer.start_order(kiosk, "sign", number, "Eg signerer", [document]).order_ref
        (request,) = signer.pending_requests(device)
        approval = key.sign(approval_message(request.challenge, "approve"), ec.ECDSA(hashes.SHA256()))
        signer.decide(device, ref, "approve", approval)
        at = signer.context.clock()
        with store.read() as tx:
            approved = tx.order(ref)
        assert approved is not None
        grant = signer.context.seals.grant(approved)  # as the other instance seals it (signer/seals.py)
        with store.tx() as tx:  # another instance checked the password and took the signing over
            lease = {"runner": "machine-b", "lease_until": at + 30}
            assert tx.transition(ref, ["approved"], "verifying", "userSign", **lease)
            assert tx.transition(ref, ["verifying"], "signing", "userSign", grant_seal=grant, **lease)

        signer.sign_order(ref)  # this instance, still signing it, reaches the release

        with store.read() as tx:
            order = tx.order(ref)
            discarded = [json.loads(e.data) for e in tx.audit_entries() if e.event == "signature.discarded"]
            created = tx.count_audit("signature.created", ref)
        assert order is not None and (order.status, order.runner) == ("signing", "machine-b")
        assert discarded == [{"why": "taken over", "runner": "machine-b"}] and created == 0

        with store.tx() as tx:  # the same order, this instance's again: it completes
            assert tx.take_over(ref, "signing", signer.context.instance, at + 31, at + 61)
        signer.sign_order(ref)
        with store.read() as tx:
            order = tx.order(ref)
            created = tx.count_audit("signature.created", ref)
        assert order is not None and order.status == "complete" and created == 1
    finally:
        store.close()

"""Seals on a store from before they existed (signer/seals.py), on a real SoftHSM token: the first
process to need the seal key makes it and seals every row as it stands, once; from then on a row
without a seal is refused like one whose seal does not match."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import customer_with_phone
from tillit.hsm.ca import CertificateAuthority
from tillit.hsm.client import Hsm
from tillit.hsm.settings import HsmSettings
from tillit.signer.seals import SEAL_KEY_LABEL, Seals
from tillit.signer.service import Signer
from tillit.signer.settings import SignerSettings
from tillit.signer.store.sqlite import SqliteStore

pytestmark = pytest.mark.hsm

PASSWORD = "Fjord-Hest-2024"


def test_a_store_from_before_seals_is_sealed_once_and_then_a_missing_seal_is_broken(
    hsm: Hsm, hsm_settings: HsmSettings, ca: CertificateAuthority, tmp_path: Path
) -> None:
    settings = SignerSettings(home=hsm_settings.home, allow_test_numbers=True)
    store = SqliteStore(tmp_path / "signer.db")
    signer = Signer(settings, store, hsm)
    try:
        number, _, device = customer_with_phone(signer, PASSWORD)
        customer_id = signer.customer(number).id
        # As a store and a token from before seals: no seal key, no seals.
        hsm.destroy_secret(SEAL_KEY_LABEL)
        with store.tx() as tx:
            tx.execute("UPDATE customers SET password_seal=NULL")
            tx.execute("UPDATE devices SET key_seal=NULL")
        upgraded = Seals(store, hsm, hsm_settings.home)
        assert upgraded.ensure() is True and hsm.has_secret(SEAL_KEY_LABEL)
        with store.read() as tx:
            customer, sealed_device = tx.customer(customer_id), tx.device(device.id)
        assert customer is not None and sealed_device is not None
        assert customer.password_seal == upgraded.password(customer_id, customer.password_hash)
        assert upgraded.password_intact(customer)
        assert upgraded.device_key(sealed_device) == sealed_device.public_key
        assert upgraded.ensure() is False  # once

        # The key exists now: a seal removed later is a broken one, in any process.
        with store.tx() as tx:
            tx.execute("UPDATE customers SET password_seal=NULL")
            tx.execute("UPDATE devices SET key_seal=NULL")
        later = Seals(store, hsm, hsm_settings.home)
        with store.read() as tx:
            customer, sealed_device = tx.customer(customer_id), tx.device(device.id)
        assert customer is not None and sealed_device is not None
        assert not later.password_intact(customer)
        assert later.device_key(sealed_device) is None
    finally:
        store.close()

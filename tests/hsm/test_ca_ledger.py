"""The CA ledger on both engines (`tillit.hsm.ca_ledger`): the same answers from the SQLite file and
from PostgreSQL, CRL numbers that grow strictly across ledgers sharing the database (as instances on
several machines do), and an old `ca.db` carried into PostgreSQL once, however often it is opened."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import crl, x509

from tests.store.conftest import pg_backend_for, pg_database  # noqa: F401 - the fixture, for the PostgreSQL ledgers
from tillit.hsm.ca import CertificateAuthority
from tillit.hsm.ca_ledger import CaLedger, SqliteCaLedger
from tillit.hsm.ca_ledger_open import open_ledger

AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def issued(ca: CertificateAuthority) -> list[x509.Certificate]:
    """Two real certificates of the test CA (the OCSP responder's and the issuing CA's) to record."""
    return [ca.ocsp_certificate(), ca.issuing_certificate()]


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostgreSQL URL of a fresh schema of its own: each test starts with no ledger tables."""
    with pg_backend_for(request) as backend:
        yield backend.location


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CaLedger]:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    opened = open_ledger(tmp_path / "home", url)
    yield opened
    opened.close()


def test_both_ledgers_record_revoke_and_number_alike(ledger: CaLedger, issued: list[x509.Certificate]) -> None:
    first, second = issued
    ledger.add(first.serial_number, "key-1", first)
    ledger.add(second.serial_number, "key-2", second)
    got = ledger.get(first.serial_number)
    assert got is not None and (got.key_label, got.revoked_at) == ("key-1", None)
    assert got.not_after == first.not_valid_after
    assert ledger.get(12345) is None
    assert ledger.revoke(first.serial_number, "key_compromise", AT) is True
    assert ledger.revoke(first.serial_number, "superseded", AT + timedelta(hours=1)) is False
    assert ledger.revoke(999, "unspecified", AT) is False
    revoked = ledger.revoked()
    assert [(r.serial, r.reason, r.revoked_at) for r in revoked] == [(first.serial_number, "key_compromise", AT)]
    numbers = [ledger.next_crl_number() for _ in range(3)]
    assert numbers == sorted(set(numbers)) and numbers[0] >= 1
    assert ledger.next_crl_number(root=True) == 1  # the root's count apart from the issuing CA's


@pytest.mark.postgresql
def test_crl_numbers_grow_strictly_across_ledgers_sharing_postgresql(
    pg_url: str,
    tmp_path: Path,
) -> None:
    ledgers = [open_ledger(tmp_path / name, pg_url) for name in ("machine-a", "machine-b")]
    try:
        with ThreadPoolExecutor(8) as pool:
            numbers = list(pool.map(lambda i: ledgers[i % 2].next_crl_number(), range(200)))
        assert len(set(numbers)) == 200, "two CRLs got one number"
        assert ledgers[0].next_crl_number() > max(numbers)
    finally:
        for each in ledgers:
            each.close()


@pytest.mark.postgresql
def test_an_old_ca_db_is_carried_into_postgresql_once(
    pg_url: str,
    tmp_path: Path,
    issued: list[x509.Certificate],
) -> None:
    home = tmp_path / "home"
    first, second = issued
    old = SqliteCaLedger(home / "ca.db")
    old.add(first.serial_number, "key-1", first)
    old.add(second.serial_number, "key-2", second)
    old.revoke(second.serial_number, "superseded", AT)
    for _ in range(41):
        old.next_crl_number()
    old.close()
    for _ in range(2):  # opened again (every start while ca.db is in the home): nothing changes twice
        shared = open_ledger(home, pg_url)
        assert [(r.serial, r.reason) for r in shared.revoked()] == [(second.serial_number, "superseded")]
        entry = shared.get(first.serial_number)
        assert entry is not None and entry.key_label == "key-1" and entry.revoked_at is None
        shared.close()
    shared = open_ledger(home, pg_url)
    try:
        assert shared.next_crl_number() == 42  # on from the file's last number, never back
        # A revocation made in PostgreSQL since is not undone by the file, nor the counter lowered.
        assert shared.revoke(first.serial_number, "key_compromise", AT) is True
    finally:
        shared.close()
    again = open_ledger(home, pg_url)
    try:
        assert {r.serial for r in again.revoked()} == {first.serial_number, second.serial_number}
        assert again.next_crl_number() == 43
    finally:
        again.close()


@pytest.mark.postgresql
def test_a_command_without_the_database_url_refuses_a_ca_whose_ledger_is_in_postgresql(
    pg_url: str, tmp_path: Path, tillit_hsm: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """An operator probe forgot TILLIT_DATABASE_URL on one machine: `tillit-hsm ca crl` signed a CRL
    from that home's own ca.db, listing none of the revocations (and a lower CRL number), and exited 0.
    The token now remembers that its CA's ledger is in PostgreSQL, and such a command refuses."""
    home = tmp_path / "machine"
    shared = {"TILLIT_DATABASE_URL": pg_url}
    assert tillit_hsm("init", home=home).returncode == 0
    assert tillit_hsm("ca", "init", home=home, env=shared).returncode == 0
    assert tillit_hsm("ca", "crl", home=home, env=shared).returncode == 0
    for env in ({}, {"TILLIT_DATABASE_URL": ""}):
        forgot = tillit_hsm("ca", "crl", home=home, env=env)
        assert forgot.returncode == 1 and forgot.stdout == "", forgot
        assert forgot.stderr.splitlines() == [
            "tillit-hsm: this token's CA keeps its ledger in PostgreSQL: set TILLIT_DATABASE_URL to that database"
            f" (the CA ledger in {home} lacks what was issued and revoked there)"
        ]
    misspelt = tillit_hsm("ca", "status", home=home, env={"TILLIT_DATABASE_URL": pg_url.replace("://", "//", 1)})
    assert misspelt.returncode == 1 and "give a postgresql://... URL" in misspelt.stderr, misspelt


def test_instances_on_one_ledger_hand_out_one_crl_whose_number_never_goes_back(
    ledger: CaLedger, ca: CertificateAuthority, issued: list[x509.Certificate]
) -> None:
    """An operator probe fetched three instances' CRLs at one moment: numbers 8, 10 and 12 for the
    same revocations (each instance signed its own), so a load balancer could hand a relying party
    12 and then 8. Now each serves the newest CRL any of them made while it lists what the ledger
    has revoked, and makes a new one only after a revocation or an hour."""
    first, _ = issued
    ledger.add(first.serial_number, "key-1", first)
    a, b = (CertificateAuthority(ca.hsm, ledger) for _ in range(2))

    def number(der: bytes) -> int:
        return int(crl.CertificateList.load(der).crl_number_value.native)

    made = a.shared_crl(3600)
    assert b.shared_crl(3600) == made and a.shared_crl(3600) == made  # one CRL, signed once
    ledger.revoke(first.serial_number, "key_compromise", AT)
    after = b.shared_crl(3600)
    assert number(after) > number(made) and a.shared_crl(3600) == after
    assert first.serial_number in {
        r["user_certificate"].native for r in crl.CertificateList.load(after)["tbs_cert_list"]["revoked_certificates"]
    }
    newer = a.crl()  # `tillit-hsm ca crl`: a new one, which every instance serves from then on
    assert number(newer) > number(after) and b.shared_crl(3600) == newer
    assert number(b.shared_crl(0)) > number(newer)  # past its freshness, a new one

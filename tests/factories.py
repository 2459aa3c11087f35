"""Test data: fresh synthetic national identity numbers (month + 80, valid check digits), customers
with a phone on an in-process signer, and self-signed certificates from nobody Tillit knows."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tillit.numbers import check_digits

if TYPE_CHECKING:  # the signer's service is heavy to import, and most tests here need none of it
    from tillit.signer.service import Signer
    from tillit.signer.store.records import Device

_counter = itertools.count()


def years_ago(years: int, month: int = 1, day: int = 1) -> date:
    """A birth date in the year `years` before this one: an age that stays what a test needs (a
    minor, a child under 13) whatever year the suite runs in, where a fixed date grows up."""
    return date(date.today().year - years, month, day)


def synthetic_number(born: date = date(1980, 1, 1), start: int | None = None) -> str:
    """A valid synthetic number for an adult born on `born`, different on every call."""
    base = next(_counter) if start is None else start
    first = 500 if born.year >= 2000 else 0  # individual numbers 500-999 mean the 2000s for years 00-39
    for individual in range(first + base % 500, first + 500):
        nine = f"{born.day:02d}{born.month + 80:02d}{born.year % 100:02d}{individual:03d}"
        digits = check_digits(nine)
        if digits is not None:
            return nine + digits
    raise ValueError("no number left for that date")


def fresh_adult() -> str:
    """A valid synthetic number of an adult, unique within the test session."""
    i = next(_counter)
    born = date(1950 + i % 50, 1 + (i // 50) % 12, 1 + (i // 600) % 28)
    return synthetic_number(born, start=(i * 7) % 400)


def customer_with_phone(signer: Signer, password: str) -> tuple[str, ec.EllipticCurvePrivateKey, Device]:
    """A fresh adult enrolled on `signer` with `password`, and a new phone key bound as their
    device: the number, the phone's private key and the device."""
    number = fresh_adult()
    signer.enrol(number, "Kari Nordmann", "+4791234567", "kari@example.no", password)
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return number, key, signer.add_device(number, public)


def self_signed(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A P-256 key and a certificate it signed itself, valid from five minutes ago for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert

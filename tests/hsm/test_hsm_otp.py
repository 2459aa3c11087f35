"""Code devices: HMAC-SHA1 with a secret held in the token, against the RFC test vectors."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pkcs11
import pytest
from pkcs11 import Attribute, ObjectClass

from tillit.hsm import errors
from tillit.hsm.client import Hsm
from tillit.hsm.otp import CodeDeviceFile, counter_at, hsm_code, issue_code_device, secret_label, truncate

pytestmark = pytest.mark.hsm

RFC_SECRET = b"12345678901234567890"
# RFC 4226 appendix D: HOTP values for counters 0..9 with RFC_SECRET.
RFC4226_HOTP = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]


@pytest.fixture(scope="module")
def rfc_secret(hsm: Hsm, new_label: Callable[[str], str]) -> str:
    label = new_label("rfc-secret")
    hsm.import_secret(label, RFC_SECRET)
    return label


def test_hmac_in_the_token_gives_the_rfc_4226_codes(hsm: Hsm, rfc_secret: str) -> None:
    codes = [truncate(hsm.hmac_sha1(rfc_secret, counter.to_bytes(8, "big"))) for counter in range(10)]
    assert codes == RFC4226_HOTP


def test_rfc_6238_sha1_vector_at_t_59(hsm: Hsm, rfc_secret: str) -> None:
    counter = counter_at(59)
    assert counter == 1
    mac = hsm.hmac_sha1(rfc_secret, counter.to_bytes(8, "big"))
    assert truncate(mac, digits=8) == "94287082"
    assert truncate(mac) == "287082"
    # RFC 6238 appendix B, SHA1, T = 1111111109: 07081804.
    mac = hsm.hmac_sha1(rfc_secret, counter_at(1111111109).to_bytes(8, "big"))
    assert truncate(mac, digits=8) == "07081804"


def test_issued_device_and_token_agree(hsm: Hsm, tmp_path: Path, new_label: Callable[[str], str]) -> None:
    serial = new_label("dev")
    device = issue_code_device(hsm, serial)
    for at in (0.0, 59.0, 1111111109.0, 2000000000.0):
        assert device.code(at=at) == hsm_code(hsm, serial, counter_at(at))

    path = tmp_path / "device.json"
    device.dump(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert (data["algorithm"], data["digits"], data["period"], data["serial"]) == ("TOTP-SHA1", 6, 30, serial)
    loaded = CodeDeviceFile.load(path)
    assert loaded == device
    code = loaded.code()
    assert len(code) == 6 and code.isdigit()


def test_the_secret_in_the_token_is_not_readable(hsm: Hsm, new_label: Callable[[str], str]) -> None:
    serial = new_label("dev")
    issue_code_device(hsm, serial)
    secret: Any = hsm._admin.get_key(object_class=ObjectClass.SECRET_KEY, label=secret_label(serial))
    assert secret[Attribute.SENSITIVE] and not secret[Attribute.EXTRACTABLE]
    with pytest.raises(pkcs11.AttributeSensitive):
        secret[Attribute.VALUE]


def test_secret_errors(hsm: Hsm, rfc_secret: str, new_label: Callable[[str], str]) -> None:
    with pytest.raises(errors.KeyExists, match="already exists"):
        hsm.import_secret(rfc_secret, b"other")
    with pytest.raises(errors.KeyNotFound, match="no secret labelled 'no-such-secret'"):
        hsm.hmac_sha1("no-such-secret", b"\0" * 8)
    with pytest.raises(errors.HsmError, match="letters, digits or dashes"):
        issue_code_device(hsm, "not a serial")

    label = new_label("destroyed")
    hsm.import_secret(label, b"k" * 20)
    assert hsm.hmac_sha1(label, b"x")
    hsm.destroy_secret(label)
    with pytest.raises(errors.KeyNotFound):
        hsm.hmac_sha1(label, b"x")


def test_bad_device_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(errors.HsmError, match="no code device file"):
        CodeDeviceFile.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(errors.HsmError, match="is not a code device file"):
        CodeDeviceFile.load(bad)


def test_a_pkcs11_refusal_comes_out_as_the_layers_own_error(hsm: Hsm, new_label: Callable[[str], str]) -> None:
    """A secret the token accepts but cannot use (zero bytes): the HMAC fails inside the token, and the
    caller sees an `HsmError` that names what was refused, not python-pkcs11's exception."""
    label = new_label("empty-secret")
    hsm.import_secret(label, b"")
    try:
        with pytest.raises(errors.HsmError, match="refused to compute the HMAC: KeySizeRange") as caught:
            hsm.hmac_sha1(label, b"counter")
        assert not isinstance(caught.value, pkcs11.PKCS11Error)
    finally:
        hsm.destroy_secret(label)

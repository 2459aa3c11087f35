"""Named records on the token whose counter only moves forward (hsm/records.py), on the real
SoftHSM token: monotonic, private, one object at rest, and a second process's newer record seen."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
from pkcs11 import Attribute, ObjectClass

from tests.hsm.conftest import unique_label
from tillit.hsm import errors, records
from tillit.hsm.client import Hsm

pytestmark = pytest.mark.hsm


def _objects(hsm: Hsm, label: str, private: bool | None = None) -> int:
    template = {Attribute.CLASS: ObjectClass.DATA, Attribute.LABEL: label}
    if private is not None:
        template[Attribute.PRIVATE] = private
    return sum(1 for _ in hsm._admin.get_objects(template))


def test_a_record_only_moves_forward(hsm: Hsm) -> None:
    label = unique_label("record")
    assert hsm.read_record(label) is None
    assert hsm.advance_record(label, 5, b"five")
    assert not hsm.advance_record(label, 5, b"five again")  # not higher: nothing written
    assert not hsm.advance_record(label, 3, b"three")
    assert hsm.read_record(label) == records.Record(5, b"five")
    assert hsm.advance_record(label, 9, b"nine")
    assert hsm.read_record(label) == records.Record(9, b"nine")
    assert _objects(hsm, label) == 1  # the superseded object was destroyed
    assert hsm.destroy_record(label) == 1
    assert hsm.read_record(label) is None


def test_a_record_is_private_and_unmodifiable_and_a_public_lookalike_is_ignored(hsm: Hsm) -> None:
    label = unique_label("record")
    hsm.advance_record(label, 2, b"real")
    (obj,) = list(hsm._admin.get_objects({Attribute.CLASS: ObjectClass.DATA, Attribute.LABEL: label}))
    assert obj[Attribute.PRIVATE] is True and obj[Attribute.MODIFIABLE] is False
    # A public object, as a session without the PIN may create, claiming a far higher counter.
    forged = records.encode(records.Record(10**9, b"forged"))
    hsm._admin.create_object(
        {
            Attribute.CLASS: ObjectClass.DATA,
            Attribute.TOKEN: True,
            Attribute.PRIVATE: False,
            Attribute.LABEL: label,
            Attribute.VALUE: forged,
        }
    )
    hsm._records.clear()  # a process that has not seen the record yet: it searches
    assert hsm.read_record(label) == records.Record(2, b"real")
    assert records.decode(forged[:-1]) is None  # a torn value reads as no record
    with pytest.raises(errors.HsmError):
        hsm.advance_record(label, 0, b"")


def test_another_process_moving_the_record_is_seen_and_never_undone(hsm: Hsm) -> None:
    label = unique_label("record")
    assert hsm.advance_record(label, 10, b"mine")
    assert hsm.read_record(label) == records.Record(10, b"mine")  # now cached by handle
    script = textwrap.dedent(
        f"""
        from tillit.hsm.client import Hsm
        from tillit.hsm.settings import HsmSettings
        with Hsm(HsmSettings()) as h:
            assert h.advance_record({label!r}, 20, b"theirs")
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    started = time.perf_counter()
    assert hsm.read_record(label) == records.Record(20, b"theirs")
    assert time.perf_counter() - started < 5
    assert not hsm.advance_record(label, 15, b"late")  # a slower writer never moves it back
    assert hsm.read_record(label) == records.Record(20, b"theirs")
    hsm.destroy_record(label)

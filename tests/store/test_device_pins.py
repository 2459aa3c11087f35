"""The app PIN's count on both engines (signer/device_pins.py), several store objects standing in for
signer instances: concurrent wrong PINs are each counted once, the fifth locks the device, and nothing
after the lock is decided, not even the right PIN."""

from __future__ import annotations

import hashlib
import secrets

from tests.store import builders as b
from tests.store.conftest import Backend
from tests.store.test_concurrency import instances, together
from tillit.signer import errors
from tillit.signer.device_pins import DevicePins, WrongPin
from tillit.signer.store.records import DevicePin

RIGHT = secrets.token_bytes(32)
SECRET = secrets.token_bytes(32)


def seed_device(backend: Backend) -> str:
    store = backend.open()
    c = b.customer()
    d = b.device(c.id)
    with store.tx() as tx:
        tx.insert_customer(c)
        tx.insert_device(d)
        assert tx.insert_device_pin(
            DevicePin(d.id, b"unlock key", hashlib.sha256(RIGHT).hexdigest(), SECRET, 0, None, b.T0)
        )
    return d.id


def test_concurrent_wrong_pins_from_several_instances_get_five_then_the_lock(backend: Backend) -> None:
    device_id = seed_device(backend)
    pins = [DevicePins(store, lambda: b.T0) for store in instances(backend, 4)]

    def guess(i: int) -> str:
        try:
            pins[i % len(pins)].check(device_id, secrets.token_bytes(32))
        except WrongPin as e:
            return f"wrong:{e.attempts_left}"
        except errors.Forbidden as e:
            return e.code
        return "opened"

    answers = together(20, guess)
    assert sorted(a for a in answers if a.startswith("wrong")) == ["wrong:1", "wrong:2", "wrong:3", "wrong:4"]
    assert answers.count("deviceLocked") == 16
    with backend.open().tx() as tx:
        record, device = tx.device_pin(device_id), tx.device(device_id)
        assert record is not None and device is not None
        assert (record.failures, record.locked_at is not None, device.status) == (5, True, "locked")
        assert tx.count_audit("device.pin_wrong", device_id) == 5
        assert tx.count_audit("device.locked", device_id) == 1
    try:
        pins[0].check(device_id, RIGHT)
        raise AssertionError("the right PIN opened a locked device")
    except errors.Forbidden as e:
        assert e.code == "deviceLocked"

"""A transaction's queries about what a customer proves with: app devices and their request nonces,
the app PIN (signer/device_pins.py), code devices and app activations."""

from __future__ import annotations

from typing import Any

from tillit.signer.store.queries import Queries, columns
from tillit.signer.store.records import Activation, CodeDevice, Device, DevicePin


class DeviceQueries(Queries):
    def insert_device(self, d: Device) -> None:
        self._insert("devices", d)

    def devices_without_seal(self) -> list[Device]:
        """Devices made before seals existed (signer/seals.py seals them once)."""
        return self._all(Device, f"SELECT {columns(Device)} FROM devices WHERE key_seal IS NULL")

    def set_device_seal(self, device_id: str, seal: str) -> None:
        self.execute("UPDATE devices SET key_seal=? WHERE id=?", [seal, device_id])

    def set_device_biometric(self, device_id: str, on: bool) -> None:
        self.execute("UPDATE devices SET biometric=? WHERE id=?", [int(on), device_id])

    def device(self, device_id: str) -> Device | None:
        return self._one(Device, f"SELECT {columns(Device)} FROM devices WHERE id=?", [device_id])

    def active_device(self, customer_id: str) -> Device | None:
        return self._one(
            Device, f"SELECT {columns(Device)} FROM devices WHERE customer_id=? AND status='active'", [customer_id]
        )

    def deactivate_devices(self, customer_id: str, at: float) -> list[str]:
        if self._for_update:
            # One active device per customer: two concurrent activations would each deactivate the
            # devices they can see and then each insert one. Locking the customer row first makes
            # the second wait, and its next statement then sees the first one's new device.
            self.execute(f"SELECT id FROM customers WHERE id=?{self._for_update}", [customer_id])
        ids = [
            r[0]
            for r in self.execute(
                "SELECT id FROM devices WHERE customer_id=? AND status='active'", [customer_id]
            ).fetchall()
        ]
        self.execute(
            "UPDATE devices SET status='inactive', deactivated_at=? WHERE customer_id=? AND status='active'",
            [at, customer_id],
        )
        return ids

    def use_device_nonce(self, device_id: str, nonce: str, expires_at: float, now: float, prune: bool = True) -> bool:
        """Record a request nonce; False if it was seen before (a replay). `prune` also deletes the
        expired ones, a scan of the whole table: the daemon asks for it about once a second."""
        if prune:
            self.execute("DELETE FROM device_nonces WHERE expires_at < ?", [now])
        # Insert-if-absent in one statement: of two concurrent uses of one nonce (PostgreSQL), the
        # second waits on the first's key and then inserts nothing.
        cur = self.execute(
            "INSERT INTO device_nonces VALUES (?,?,?) ON CONFLICT (device_id, nonce) DO NOTHING",
            [device_id, nonce, expires_at],
        )
        return bool(cur.rowcount == 1)

    def insert_device_pin(self, pin: DevicePin) -> bool:
        """Keep a device's PIN record; False when the device has one already (it is never replaced)."""
        cur = self._insert("device_pins", pin, on_conflict=" ON CONFLICT (device_id) DO NOTHING")
        return bool(cur.rowcount == 1)

    def device_pin(self, device_id: str, lock: bool = False) -> DevicePin | None:
        """The PIN record; `lock` holds its row until this transaction ends (PostgreSQL)."""
        return self._one(
            DevicePin,
            f"SELECT {columns(DevicePin)} FROM device_pins WHERE device_id=?{self._for_update if lock else ''}",
            [device_id],
        )

    def right_device_pin(self, device_id: str) -> bool:
        """A right PIN: wrong PINs in a row back to 0, unless the device is locked (then False)."""
        cur = self.execute("UPDATE device_pins SET failures=0 WHERE device_id=? AND locked_at IS NULL", [device_id])
        return bool(cur.rowcount == 1)

    def wrong_device_pin(self, device_id: str, limit: int, at: float) -> int | None:
        """A wrong PIN: one more in a row, and the PIN record and the device locked at the `limit`-th.
        The wrong PINs in a row now, or None when the device was locked already (nothing counted).

        Exact under concurrency, as `add_failure`: the conditional UPDATE increments in place and
        holds the row until commit, so of concurrent wrong PINs each gets its own count, and the
        ones after the `limit`-th match no row."""
        cur = self.execute(
            "UPDATE device_pins SET failures = failures + 1,"
            " locked_at = CASE WHEN failures + 1 >= ? THEN ? ELSE NULL END"
            " WHERE device_id=? AND locked_at IS NULL",
            [limit, at, device_id],
        )
        if cur.rowcount != 1:
            return None
        failures = int(self.execute("SELECT failures FROM device_pins WHERE device_id=?", [device_id]).fetchone()[0])
        if failures >= limit:
            self.execute(
                "UPDATE devices SET status='locked', deactivated_at=? WHERE id=? AND status='active'", [at, device_id]
            )
        return failures

    def insert_code_device(self, d: CodeDevice) -> None:
        self._insert("code_devices", d)

    def code_device(self, serial: str) -> CodeDevice | None:
        return self._one(
            CodeDevice, f"SELECT {columns(CodeDevice)} FROM code_devices WHERE serial=?{self._for_update}", [serial]
        )

    def code_device_of(self, customer_id: str) -> CodeDevice | None:
        return self._one(
            CodeDevice,
            # Locked (PostgreSQL): the caller checks a code against last_counter and failures and
            # writes them back; two concurrent checks must not both accept one code.
            f"SELECT {columns(CodeDevice)} FROM code_devices WHERE customer_id=? ORDER BY assigned_at DESC"
            f"{self._for_update}",
            [customer_id],
        )

    def update_code_device(self, serial: str, **changes: Any) -> None:
        sets = ", ".join(f"{k}=?" for k in changes)
        self.execute(f"UPDATE code_devices SET {sets} WHERE serial=?", [*changes.values(), serial])

    def insert_activation(self, a: Activation) -> None:
        self._insert("activations", a)

    def activation(self, activation_id: str) -> Activation | None:
        return self._one(
            Activation, f"SELECT {columns(Activation)} FROM activations WHERE id=?{self._for_update}", [activation_id]
        )

    def update_activation(self, activation_id: str, **changes: Any) -> None:
        sets = ", ".join(f"{k}=?" for k in changes)
        self.execute(f"UPDATE activations SET {sets} WHERE id=?", [*changes.values(), activation_id])

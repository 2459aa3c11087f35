"""How many refused phone requests get an audit entry: a budget per device, in each process.

A refused request from a device Tillit knows (a signature that does not match, a replayed nonce) is
audited: someone has that phone's id without its key. At most `AUDITED_REFUSALS_PER_MINUTE` a
device: beyond that, and for every request naming a device that does not exist, nothing is written
(an unauthenticated client could otherwise fill the audit log, one write transaction a request), and
the refusals are counted and logged once a minute instead. The device key's requests
(devices/auth.py) and the unlock key's (device_pins.py) share one budget.
"""

from __future__ import annotations

import logging
import threading
import time

from tillit.signer.ratelimit import SlidingWindow

log = logging.getLogger("tillit.devices")

AUDITED_REFUSALS_PER_MINUTE = 10


class RefusalAudits:
    """Decides which refusals are audited; thread-safe."""

    def __init__(self) -> None:
        self._audited = SlidingWindow(AUDITED_REFUSALS_PER_MINUTE, 60.0)
        self._lock = threading.Lock()
        self._unlogged = 0
        self._logged_at = 0.0

    def may_audit(self, device_id: str) -> bool:
        """Whether this refusal for a known device gets an audit entry (the device's budget allows);
        one that does not is counted as `not_audited`."""
        with self._lock:
            if self._audited.wait_time(device_id) == 0:
                self._audited.add(device_id)
                return True
        self.not_audited()
        return False

    def not_audited(self) -> None:
        """Count a refusal that is not audited; log the count at most once a minute."""
        now = time.monotonic()
        with self._lock:
            self._unlogged += 1
            if now - self._logged_at < 60.0:
                return
            count, self._unlogged, self._logged_at = self._unlogged, 0, now
        log.warning(
            "refused %d phone request(s) without an audit entry: unknown devices, or over %d refusals a minute"
            " for one device",
            count,
            AUDITED_REFUSALS_PER_MINUTE,
        )

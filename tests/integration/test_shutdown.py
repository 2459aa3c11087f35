"""Stopping the daemon with phones connected: SIGTERM while a phone's long-poll waits (up to 60 s)
ends the daemon in about a second, and the phone gets an answer (nothing pending), not a broken
connection. Before, uvicorn waited for the long-poll to run out: 58 s with `--wait 60`, past
systemd's `TimeoutStopSec=20`, which would have killed the daemon."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest

from tests.daemon import make_daemon
from tests.factories import fresh_adult
from tillit.phone.client import PhoneClient
from tillit.signer.wire import AppRequests

pytestmark = pytest.mark.integration


def test_a_stop_answers_the_waiting_long_polls_and_ends_at_once(tmp_path: Path) -> None:
    daemon = make_daemon(tmp_path / "home")
    number = fresh_adult()
    daemon.enrol(number)
    phone: PhoneClient = daemon.add_device(number)
    daemon.start()
    answers: list[AppRequests | BaseException] = []

    def wait_for_requests() -> None:
        try:
            answers.append(phone.requests(wait=60))
        except BaseException as e:  # reported below
            answers.append(e)

    waiting = threading.Thread(target=wait_for_requests)
    try:
        waiting.start()
        time.sleep(1.0)  # the long-poll is in the daemon, waiting
        assert daemon.process is not None
        stopped = time.monotonic()
        daemon.process.send_signal(signal.SIGTERM)
        daemon.process.wait(30)
        took = time.monotonic() - stopped
        waiting.join(10)
    finally:
        daemon.stop()
        phone.close()
    assert took < 5, f"the daemon took {took:.1f} s to stop"
    assert len(answers) == 1 and isinstance(answers[0], AppRequests), answers
    assert answers[0].requests == []
    assert daemon.process is None or daemon.process.returncode == 0

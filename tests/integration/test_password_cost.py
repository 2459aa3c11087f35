"""A stronger Argon2id cost reaches stored passwords: each is hashed again, with the new parameters,
at its customer's next right password (signer.passwords `rehashed`, `keep_rehashed`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.daemon import PASSWORD, Daemon, make_daemon
from tillit.phone.client import PhoneClient

pytestmark = pytest.mark.integration

NUMBER = "13897248098"


def stored(d: Daemon) -> tuple[str, list[str]]:
    """The customer's password hash and the audit's events about the customer."""
    with sqlite3.connect(f"file:{d.home / 'signer.db'}?mode=ro", uri=True) as db:
        (customer_id, password_hash) = db.execute(
            "SELECT id, password_hash FROM customers WHERE personal_number=?", (NUMBER,)
        ).fetchone()
        events = [e for (e,) in db.execute("SELECT event FROM audit WHERE subject=? ORDER BY seq", (customer_id,))]
    return password_hash, events


def login(d: Daemon, phone: PhoneClient, *passwords: str) -> list[dict[str, Any]]:
    """One login order: started, approved on the phone, then each password in turn; the answers."""
    with d.kiosk() as k:
        started = k.post("/v1/auth", json={"personalNumber": NUMBER}).json()
        phone.decide(phone.requests(wait=5).requests[0], "approve")
        answers = [k.post("/v1/password", json={"orderRef": started["orderRef"], "password": p}) for p in passwords]
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    return [dict(a.json()) for a in answers]


def test_a_raised_cost_rehashes_a_password_at_its_next_right_login(tmp_path: Path) -> None:
    d = make_daemon(tmp_path / "home")
    d.enrol(NUMBER)
    phone = d.add_device(NUMBER)
    old_hash, _ = stored(d)
    assert "$m=19456,t=2,p=1$" in old_hash
    d.env["TILLIT_ARGON2_TIME_COST"] = "3"  # the administrator raises the cost
    d.start()
    try:
        wrong, right = login(d, phone, "Feil-Passord-99", PASSWORD)
        assert wrong["hintCode"] == "wrongPassword" and right["status"] == "complete"
        new_hash, events = stored(d)
        assert "$m=19456,t=3,p=1$" in new_hash
        assert events.count("customer.password_rehashed") == 1

        assert login(d, phone, PASSWORD)[0]["status"] == "complete"  # the new hash verifies the password
        again, events = stored(d)
        assert again == new_hash and events.count("customer.password_rehashed") == 1  # current: kept
        assert d.run("tillit-signer", "audit", "verify").returncode == 0
    finally:
        phone.close()
        d.stop()

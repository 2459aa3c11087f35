from __future__ import annotations

from pathlib import Path

import pytest

from tests.daemon import PASSWORD, make_daemon

pytestmark = pytest.mark.integration


def test_login_completes(tmp_path: Path) -> None:
    d = make_daemon(tmp_path / "home")
    d.enrol("13897248098")
    phone = d.add_device("13897248098")
    d.start()
    try:
        with d.kiosk() as k:
            started = k.post("/v1/auth", json={"personalNumber": "13897248098"}).json()
            reqs = phone.requests(wait=5)
            assert reqs.requests[0].reference == started["reference"]
            phone.decide(reqs.requests[0], "approve")
            r = k.post("/v1/password", json={"orderRef": started["orderRef"], "password": PASSWORD})
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "complete", r.json()
    finally:
        phone.close()
        d.stop()

from __future__ import annotations

import os
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


def _allowed_cpus(pid: int, tid: int) -> set[int]:
    """The CPUs a thread may run on, from /proc (Cpus_allowed_list: "0-3,6")."""
    for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            cpus: set[int] = set()
            for part in line.split(":", 1)[1].strip().split(","):
                first, _, last = part.partition("-")
                cpus.update(range(int(first), int(last or first) + 1))
            return cpus
    raise AssertionError("no Cpus_allowed_list")


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs two CPUs")
@pytest.mark.parametrize("pinned", [True, False])
def test_the_event_loop_runs_on_one_cpu_only_when_told_to(tmp_path: Path, pinned: bool) -> None:
    d = make_daemon(tmp_path / "home")
    if pinned:
        d.env["TILLIT_PIN_REQUEST_PATH"] = "true"
    d.start()
    try:
        assert d.process is not None
        loop_cpus = _allowed_cpus(d.process.pid, d.process.pid)
        assert loop_cpus <= os.sched_getaffinity(0)
        assert len(loop_cpus) == (1 if pinned else len(os.sched_getaffinity(0)))
    finally:
        d.stop()

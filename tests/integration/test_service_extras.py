"""Biometric login level, remembered method, feedback, TLS, /metrics, the documented config file."""

from __future__ import annotations

import base64
import json
import sqlite3
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from signer.tokens import verify_jwt
from tests.daemon import PASSWORD, Daemon, make_daemon, tool
from tests.factories import fresh_adult

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]


def test_biometric_login_completes_at_substantial(daemon: Daemon) -> None:
    number = fresh_adult()
    daemon.enrol(number)
    phone = daemon.add_device(number)
    try:
        with daemon.kiosk() as k:
            order = k.post("/v1/auth", json={"personalNumber": number, "method": "biometric"}).json()
            phone.decide(phone.requests(wait=5).requests[0], "approve", biometric=True)
            done = k.post("/v1/collect", json={"orderRef": order["orderRef"]}).json()
        assert done["status"] == "complete"
        assert done["completionData"]["level"] == "substantial"
        claims = verify_jwt(done["completionData"]["token"], httpx.get(daemon.url + "/v1/keys").json())
        assert claims is not None and claims["acr"] == "substantial" and "pwd" not in claims["amr"]
    finally:
        phone.close()


def test_sign_order_never_completes_without_the_password(daemon: Daemon) -> None:
    number = fresh_adult()
    daemon.enrol(number)
    phone = daemon.add_device(number)
    try:
        with daemon.kiosk() as k:
            doc = {"name": "a.txt", "contentType": "text/plain", "content": base64.b64encode(b"a").decode()}
            order = k.post(
                "/v1/sign",
                json={"personalNumber": number, "userVisibleData": "x", "documents": [doc]},
            ).json()
            phone.decide(phone.requests(wait=5).requests[0], "approve", biometric=True)
            state = k.post("/v1/collect", json={"orderRef": order["orderRef"]}).json()
            assert (state["status"], state["hintCode"]) == ("pending", "userSign")
            assert k.get(f"/v1/orders/{order['orderRef']}/documents/0").status_code == 409
            done = k.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD}).json()
            assert done["status"] == "complete" and done["completionData"]["level"] == "high"
    finally:
        phone.close()


def test_remembered_method_and_first_login_after_activation(daemon: Daemon, tmp_path: Path) -> None:
    number = fresh_adult()
    daemon.enrol(number)
    phone = daemon.add_device(number)
    try:
        with daemon.kiosk() as k:
            assert k.post("/v1/login-method", json={"personalNumber": number}).json() == {"method": None}
            order = k.post("/v1/auth", json={"personalNumber": number, "method": "app"}).json()
            phone.decide(phone.requests(wait=5).requests[0], "approve")
            k.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD})
            assert k.post("/v1/login-method", json={"personalNumber": number}).json() == {"method": "app"}
            unknown = k.post("/v1/login-method", json={"personalNumber": fresh_adult()}).json()
            assert unknown == {"method": None}
        second = daemon.add_device(number)
        second.close()
        with daemon.kiosk() as k:
            assert k.post("/v1/login-method", json={"personalNumber": number}).json() == {"method": None}
    finally:
        phone.close()


def test_feedback_is_stored_without_identity_and_reported(daemon: Daemon) -> None:
    number = fresh_adult()
    daemon.enrol(number, "Feedback Person")
    phone = daemon.add_device(number)
    try:
        with daemon.kiosk() as k:
            order = k.post("/v1/auth", json={"personalNumber": number}).json()
            early = k.post("/v1/feedback", json={"orderRef": order["orderRef"], "rating": 5})
            assert early.status_code == 409
            phone.decide(phone.requests(wait=5).requests[0], "approve")
            k.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD})
            bad = k.post("/v1/feedback", json={"orderRef": order["orderRef"], "rating": 9})
            assert bad.status_code == 400
            ok = k.post("/v1/feedback", json={"orderRef": order["orderRef"], "rating": 4, "comment": "Lett å bruke"})
            assert ok.status_code == 204
            twice = k.post("/v1/feedback", json={"orderRef": order["orderRef"], "rating": 1})
            assert twice.status_code == 409
    finally:
        phone.close()
    with sqlite3.connect(daemon.home / "signer.db") as db:
        row = db.execute("SELECT * FROM feedback").fetchall()[-1]
        columns = [c[1] for c in db.execute("PRAGMA table_info(feedback)")]
    stored = " ".join(str(v) for v in row)
    assert number not in stored and "Feedback Person" not in stored and order["orderRef"] not in stored
    assert set(columns) == {"id", "day", "kiosk_id", "kind", "rating", "comment"}
    report = json.loads(daemon.run("tillit-signer", "feedback", "report", "--json").stdout)
    mine = next(r for r in report if r["kiosk"] == "Bergen sentrum" and r["kind"] == "auth")
    assert mine["count"] >= 1 and 1 <= mine["average"] <= 5


def test_tls_and_metrics_scraped_by_a_plain_client(tmp_path: Path) -> None:
    d = make_daemon(tmp_path / "home")
    out = d.run("tillit-signer", "tls", "issue", "--out-dir", str(tmp_path / "tls")).stdout
    files = dict(line.split("=", 1) for line in out.split())
    d.env.update(files)
    d.env["TILLIT_LOG_JSON"] = "1"
    chain = subprocess.run(
        [tool("tillit-hsm"), "ca", "show"], env=d.env, capture_output=True, text=True, check=True
    ).stdout
    (tmp_path / "ca.pem").write_text(chain)
    process = subprocess.Popen(
        [tool("tillit-signer"), "serve", "--port", str(d.port)], env=d.env, stderr=subprocess.PIPE, text=True
    )
    try:
        url = f"https://127.0.0.1:{d.port}"
        trusted = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        with httpx.Client(verify=trusted, timeout=5) as client:
            for _ in range(200):
                try:
                    if client.get(url + "/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            metrics = client.get(url + "/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        text = metrics.text
        assert "tillit_http_request_duration_seconds_bucket" in text
        assert "# TYPE tillit_hsm_signatures_total counter" in text
        assert "tillit_hsm_errors_total" in text
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/healthz", timeout=5)  # not trusted without the CA
    finally:
        process.terminate()
        _, err = process.communicate(timeout=15)
    first = json.loads(err.splitlines()[0])
    assert first["message"].startswith("serving on https://") and first["level"] == "info"


def test_documented_config_file_is_current() -> None:
    generated = subprocess.run([tool("tillit-signer"), "config"], capture_output=True, text=True, check=True).stdout
    assert (ROOT / "deploy" / "tillit.toml").read_text() == generated
    unit = (ROOT / "deploy" / "tillit-signer.service").read_text()
    assert "ExecStart=" in unit and "tillit-signer serve" in unit

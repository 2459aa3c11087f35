"""Biometric login level, remembered method, feedback, TLS, /metrics, the documented config file."""

from __future__ import annotations

import base64
import json
import sqlite3
import ssl
import subprocess
import time
import tomllib
import uuid
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from tests.daemon import PASSWORD, Daemon, make_daemon, tool
from tests.factories import fresh_adult
from tillit.phone.client import PhoneClient
from tillit.signer.tokens import verify_jwt

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]


def _biometric(phone: PhoneClient, on: bool) -> None:
    r = phone.request("POST", "/v1/app/settings", {"biometric": on})
    assert r.status_code == 200 and r.json() == {"biometric": on}, r.text


def test_biometric_login_completes_at_substantial(daemon: Daemon) -> None:
    number = fresh_adult()
    daemon.enrol(number)
    phone = daemon.add_device(number)
    try:
        _biometric(phone, True)
        with daemon.kiosk() as k:
            order = k.post("/v1/auth", json={"personalNumber": number, "method": "biometric"}).json()
            request = phone.requests(wait=5).requests[0]
            assert request.method == request.challenge["method"] == "biometric"  # the phone signs that
            phone.decide(request, "approve", biometric=True)
            done = k.post("/v1/collect", json={"orderRef": order["orderRef"]}).json()
        assert done["status"] == "complete"
        assert done["completionData"]["level"] == "substantial"
        claims = verify_jwt(done["completionData"]["token"], httpx.get(daemon.url + "/v1/keys").json())
        assert claims is not None and claims["acr"] == "substantial" and "pwd" not in claims["amr"]
    finally:
        phone.close()


def test_biometric_login_needs_the_password_unless_turned_on_in_the_app(daemon: Daemon) -> None:
    """Asked for a login without password, the signer gives an ordinary app login (approval, then
    the password, level high) to a customer who has not turned it on in the app, or turned it off."""
    number = fresh_adult()
    daemon.enrol(number)
    phone = daemon.add_device(number)
    try:
        for setting in (None, False):
            if setting is not None:
                _biometric(phone, True)
                _biometric(phone, setting)
            with daemon.kiosk() as k:
                order = k.post("/v1/auth", json={"personalNumber": number, "method": "biometric"}).json()
                request = phone.requests(wait=5).requests[0]
                assert request.method == request.challenge["method"] == "app"
                phone.decide(request, "approve", biometric=True)
                state = k.post("/v1/collect", json={"orderRef": order["orderRef"]}).json()
                assert (state["status"], state["hintCode"]) == ("pending", "userSign")
                done = k.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD}).json()
                assert done["status"] == "complete" and done["completionData"]["level"] == "high"
        shown = json.loads(daemon.run("tillit-signer", "customers", "show", number, "--json").stdout)
        assert shown["device"]["biometric"] is False
        unsigned = httpx.post(daemon.url + "/v1/app/settings", json={"biometric": True})
        assert unsigned.status_code == 401
        replaced = daemon.add_device(number)
        replaced.close()
        r = phone.request("POST", "/v1/app/settings", {"biometric": True})
        assert r.status_code == 403 and r.json()["error"] == "deviceDeactivated"
    finally:
        phone.close()


def test_sign_order_never_completes_without_the_password(daemon: Daemon) -> None:
    number = fresh_adult()
    daemon.enrol(number)
    phone = daemon.add_device(number)
    try:
        _biometric(phone, True)
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
    branch = f"Tilbakemelding {uuid.uuid4().hex[:6]}"  # a kiosk of its own: its report counts exactly
    token = daemon.run("tillit-signer", "kiosks", "add", "--name", branch).stdout.strip()
    refs = []
    try:
        with httpx.Client(base_url=daemon.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as k:
            for rating in (4, 2):
                order = k.post("/v1/auth", json={"personalNumber": number}).json()
                refs.append(order["orderRef"])
                early = k.post("/v1/feedback", json={"orderRef": order["orderRef"], "rating": 5})
                assert early.status_code == 409
                phone.decide(phone.requests(wait=5).requests[0], "approve")
                k.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD})
                bad = k.post("/v1/feedback", json={"orderRef": order["orderRef"], "rating": 9})
                assert bad.status_code == 400
                ok = k.post("/v1/feedback", json={"orderRef": order["orderRef"], "rating": rating, "comment": "Lett"})
                assert ok.status_code == 204
                twice = k.post("/v1/feedback", json={"orderRef": order["orderRef"], "rating": 1})
                assert twice.status_code == 409
        with daemon.kiosk() as other:  # another kiosk cannot rate this kiosk's order
            assert other.post("/v1/feedback", json={"orderRef": refs[0], "rating": 1}).status_code in (404, 409)
    finally:
        phone.close()
    with sqlite3.connect(daemon.home / "signer.db") as db:
        rows = db.execute("SELECT * FROM feedback").fetchall()
        columns = [c[1] for c in db.execute("PRAGMA table_info(feedback)")]
    stored = " ".join(str(v) for row in rows for v in row)
    assert number not in stored and "Feedback Person" not in stored
    assert not any(ref in stored for ref in refs)
    assert set(columns) == {"id", "day", "kiosk_id", "kind", "rating", "comment"}
    report = json.loads(daemon.run("tillit-signer", "feedback", "report", "--json").stdout)
    mine = [r for r in report if r["kiosk"] == branch]
    assert len(mine) == 1 and mine[0]["kind"] == "auth"
    assert (mine[0]["count"], mine[0]["average"]) == (2, 3.0), mine
    assert branch in daemon.run("tillit-signer", "feedback", "report").stdout


def test_tls_and_metrics_scraped_by_a_plain_client(tmp_path: Path) -> None:
    d = make_daemon(tmp_path / "home")
    out = d.run("tillit-signer", "tls", "issue", "--out-dir", str(tmp_path / "tls")).stdout
    files = dict(line.split("=", 1) for line in out.split())
    d.env.update(files)
    d.env["TILLIT_LOG_JSON"] = "1"
    # Its CA was made for http:// (before TLS): `serve` refuses, saying that something in front must
    # answer at the CA's http:// URL (this daemon now answers https only)...
    refused = d.run("tillit-signer", "serve", "--port", str(d.port), check=False)
    assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert f"a proxy or load balancer in front that answers at {d.url}" in refused.stderr, refused.stderr
    # ... as one does here (the plain client below stands for it): the public URL is the CA's.
    d.env["TILLIT_PUBLIC_URL"] = d.url
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
        # When the certificates the daemon signs under end, so that an operator can alert in time.
        ends = {
            line.split('"')[1]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("tillit_certificate_expiry_timestamp_seconds{")
        }
        assert set(ends) == {"root", "issuing", "ocsp", "tsa"}, text
        root = x509.load_pem_x509_certificates(chain.encode())[-1]
        assert ends["root"] == root.not_valid_after_utc.timestamp()
        assert time.time() < ends["ocsp"] < ends["tsa"] <= ends["issuing"] <= ends["root"]
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/healthz", timeout=5)  # not trusted without the CA
    finally:
        process.terminate()
        _, err = process.communicate(timeout=15)
    first = json.loads(err.splitlines()[0])
    assert first["message"].startswith("serving on https://") and first["level"] == "info"


def test_documented_config_file_is_current() -> None:
    generated = subprocess.run(
        [tool("tillit-signer"), "config", "--defaults"], capture_output=True, text=True, check=True
    ).stdout
    assert (ROOT / "deploy" / "tillit.toml").read_text() == generated
    assert tomllib.loads(generated) == {}  # every line a comment, continuation lines too
    unit = (ROOT / "deploy" / "tillit-signer.service").read_text()
    assert "ExecStart=" in unit and "tillit-signer serve" in unit

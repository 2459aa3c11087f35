"""The testers' kit as a tester meets it: its signer's certificates point where the signer answers
(pdfsig, with only the root trusted, validates a signature made by the kit's signer on a free port,
also for a customer an admin command with other settings enrolled); `serve` refuses a public URL
that is not its CA's; the documented recipe verifies a completion token; the plugin loads in a
project with its own `phone`, `signer`, `hsm` and `kiosk` packages; a setting error fails a test in
one line; the header names the variables the kit leaves out."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tillit.phone.pytest_plugin import TillitCustomer, TillitHome, TillitPhone, TillitSigner
from tillit.phone.testkit.commands import TillitError, free_port, tool
from tillit.signer.sample_documents import agreement_pdf

pytestmark = pytest.mark.integration

DOCS = Path(__file__).parents[2] / "docs" / "testers-kit.md"


# -- helpers --------------------------------------------------------------------------------------


def nss_trusting_the_root(signer: TillitSigner, folder: Path) -> Path:
    """An NSS database (for pdfsig) trusting only the root of the signer's chain (`GET /v1/ca`)."""
    chain = httpx.get(signer.url + "/v1/ca", timeout=30).text
    root_pem = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n", chain, re.S)[-1]
    (folder / "root.pem").write_text(root_pem)
    nss = folder / "nss"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, timeout=60)
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{nss}", "-n", "tillit-root", "-t", "CT,C,C", "-i", str(folder / "root.pem")],
        check=True,
        timeout=60,
    )
    return nss


def signed_agreement(signer: TillitSigner, customer: TillitCustomer, phone: TillitPhone) -> bytes:
    """A PDF signed by `customer` through the kiosk API: the phone approves, the password completes."""
    pdf = agreement_pdf("Lånavtale", customer.name, pages=1)
    with signer.kiosk() as kiosk:
        started = kiosk.post(
            "/v1/sign",
            json={
                "personalNumber": customer.personal_number,
                "userVisibleData": "Eg signerer lånavtalen",
                "documents": [
                    {"name": "laan.pdf", "contentType": "application/pdf", "content": base64.b64encode(pdf).decode()}
                ],
            },
        )
        assert started.status_code == 200, started.text
        ref = started.json()["orderRef"]
        approved = phone.approve(wait=10)
        assert approved.ok, approved.stderr
        done = kiosk.post("/v1/password", json={"orderRef": ref, "password": customer.password}).json()
        assert done["status"] == "complete", done
        signed = kiosk.get(f"/v1/orders/{ref}/documents/0")
    assert signed.status_code == 200, signed.text
    return signed.content


def pdfsig_says(pdf: bytes, nss: Path, folder: Path) -> str:
    """pdfsig's report on `pdf` (signature, chain, online OCSP at the certificate's URL)."""
    path = folder / "signed.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss}", str(path)], capture_output=True, text=True, timeout=120
    ).stdout


def signer_certificate_text(pdf: bytes, name: str, folder: Path) -> str:
    """`openssl x509 -text` of the certificate named `name` in the PDF's first signature (dumped by pdfsig)."""
    (folder / "dump.pdf").write_bytes(pdf)
    subprocess.run(["pdfsig", "-nocert", "-dump", "dump.pdf"], cwd=folder, check=True, capture_output=True, timeout=60)
    certs = subprocess.run(
        ["openssl", "pkcs7", "-inform", "DER", "-print_certs", "-in", "dump.pdf.sig0"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    for pem in re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n", certs, re.S):
        text = subprocess.run(
            ["openssl", "x509", "-noout", "-text"], input=pem, capture_output=True, text=True, check=True
        ).stdout
        if f"CN = {name}" in next(line for line in text.splitlines() if "Subject:" in line):
            return text
    raise AssertionError(f"no certificate of {name} in the signature: {certs}")


def assert_points_at(certificate: str, url: str) -> None:
    assert f"URI:{url}/v1/crl\n" in certificate, certificate
    assert f"OCSP - URI:{url}/v1/ocsp\n" in certificate, certificate
    assert f"CA Issuers - URI:{url}/v1/ca/issuing.cer\n" in certificate, certificate


def run_pytest(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m pytest` in `project`, as a tester runs it in their own project (the installed Tillit)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env},
    )


# -- the certificates' URLs: where the daemon answers ---------------------------------------------


def test_the_kits_signer_on_a_free_port_signs_what_pdfsig_validates(
    tillit_signer: TillitSigner, tillit_customer: TillitCustomer, tillit_phone: TillitPhone, tmp_path: Path
) -> None:
    assert tillit_signer.url == tillit_signer.home.public_url  # the free port the kit chose, not 8700
    pdf = signed_agreement(tillit_signer, tillit_customer, tillit_phone)
    report = pdfsig_says(pdf, nss_trusting_the_root(tillit_signer, tmp_path), tmp_path)
    assert "Signature is Valid." in report, report
    assert "Certificate is Trusted." in report, report
    assert_points_at(signer_certificate_text(pdf, tillit_customer.name, tmp_path), tillit_signer.url)


def test_a_customer_an_admin_command_with_other_settings_enrolled_gets_the_daemons_urls(
    tillit_signer: TillitSigner, tmp_path: Path
) -> None:
    # The administrator's shell names another port (and no public URL): `customers add` there.
    elsewhere = {k: v for k, v in tillit_signer.home.env.items() if k != "TILLIT_PUBLIC_URL"}
    elsewhere["TILLIT_PORT"] = str(free_port())
    admin = TillitSigner(TillitHome(tillit_signer.home.path, elsewhere), tillit_signer.url, tillit_signer.kiosk_token)
    customer = admin.enrol(name="Ola Nordmann")
    phone = tillit_signer.activate(customer)

    pdf = signed_agreement(tillit_signer, customer, phone)
    report = pdfsig_says(pdf, nss_trusting_the_root(tillit_signer, tmp_path), tmp_path)
    assert "Signature is Valid." in report, report
    assert "Certificate is Trusted." in report, report
    assert_points_at(signer_certificate_text(pdf, customer.name, tmp_path), tillit_signer.url)


def test_serve_refuses_a_public_url_that_is_not_its_cas(tillit_signer: TillitSigner) -> None:
    home = tillit_signer.home
    other = free_port()
    # Without the public URL, and without the RP face's port, which the kit's signer holds.
    env = {k: v for k, v in home.env.items() if k not in ("TILLIT_PUBLIC_URL", "TILLIT_RP_PORT")}
    refused = subprocess.run(
        [tool("tillit-signer"), "serve", "--host", "127.0.0.1", "--port", str(other)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert f"http://127.0.0.1:{other}" in refused.stderr  # what it would serve
    assert f"TILLIT_PUBLIC_URL={tillit_signer.url}" in refused.stderr  # the CA's, and the fix
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{other}/healthz", timeout=2)
    assert httpx.get(tillit_signer.url + "/healthz", timeout=10).status_code == 200


# -- the completion token -------------------------------------------------------------------------


def documented_recipe() -> dict[str, Any]:
    """The Python block of docs/testers-kit.md that verifies a completion token, run as written."""
    text = DOCS.read_text()
    section = text[text.index("## The completion token") :]
    code = re.search(r"```python\n(.+?)```", section, re.S)
    assert code is not None, "docs/testers-kit.md has no recipe"
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), str(DOCS), "exec"), namespace)  # noqa: S102 (the docs' own example)
    return namespace


def test_the_documented_recipe_and_the_kits_helper_verify_a_real_completion_token(
    tillit_signer: TillitSigner, tillit_customer: TillitCustomer, tillit_phone: TillitPhone
) -> None:
    with tillit_signer.kiosk() as kiosk:
        order = kiosk.post("/v1/auth", json={"personalNumber": tillit_customer.personal_number}).json()
        assert tillit_phone.approve(wait=10).ok
        kiosk.post("/v1/password", json={"orderRef": order["orderRef"], "password": tillit_customer.password})
        result = kiosk.post("/v1/collect", json={"orderRef": order["orderRef"]}).json()
    assert result["status"] == "complete", result
    token = result["completionData"]["token"]
    assert tillit_signer.kiosk_id is not None

    recipe = documented_recipe()
    claims = recipe["verified_claims"](token, tillit_signer.url, tillit_signer.kiosk_id)
    assert claims["aud"] == tillit_signer.kiosk_id
    assert claims["iss"] == tillit_signer.url
    assert claims["sub"] == result["completionData"]["customer"]["id"]
    assert claims["jti"] == order["orderRef"]
    assert (claims["acr"], claims["amr"], claims["kind"]) == ("high", ["app", "pwd"], "auth")
    assert claims["name"] == tillit_customer.name
    assert claims["iat"] <= claims["nbf"] < claims["exp"]

    assert tillit_signer.verify_completion(token) == claims
    with pytest.raises(TillitError, match="Audience"):
        tillit_signer.verify_completion(token, audience="another-kiosk")
    with pytest.raises(Exception, match="Audience"):
        recipe["verified_claims"](token, tillit_signer.url, "another-kiosk")


# -- the plugin in a tester's project -------------------------------------------------------------

A_TESTERS_TEST = """
import phone.screens
from tillit.phone.pytest_plugin import TillitCustomer, TillitPhone, TillitSigner


def test_a_login_in_my_project(
    tillit_signer: TillitSigner, tillit_customer: TillitCustomer, tillit_phone: TillitPhone
) -> None:
    assert phone.screens.OWN == "the tester's own phone package"
    with tillit_signer.kiosk() as kiosk:
        order = kiosk.post("/v1/auth", json={"personalNumber": tillit_customer.personal_number}).json()
        assert tillit_phone.approve(wait=10).ok
        kiosk.post("/v1/password", json={"orderRef": order["orderRef"], "password": tillit_customer.password})
        assert kiosk.post("/v1/collect", json={"orderRef": order["orderRef"]}).json()["status"] == "complete"
"""


def test_the_plugin_loads_in_a_project_with_its_own_phone_signer_hsm_and_kiosk(tmp_path: Path) -> None:
    project = tmp_path / "project"
    for package, module in (("phone", "screens"), ("signer", "service"), ("hsm", "client"), ("kiosk", "app")):
        (project / package).mkdir(parents=True)
        (project / package / "__init__.py").write_text("")
        (project / package / f"{module}.py").write_text(f'OWN = "the tester\'s own {package} package"\n')
    (project / "tests").mkdir()
    (project / "tests" / "test_login.py").write_text(A_TESTERS_TEST)

    run = run_pytest(project, "-q", "tests")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
    assert "Error while loading plugin" not in run.stderr


def test_a_setting_error_in_a_fixture_fails_the_test_in_one_line_and_the_header_names_what_was_dropped(
    tmp_path: Path,
) -> None:
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.fixture(scope="session")
            def tillit_settings():
                return {"TILLIT_ORDER_TTL_SECONDS": "abc"}
            """
        )
    )
    (tmp_path / "test_signer.py").write_text("def test_it(tillit_signer):\n    pass\n")

    run = run_pytest(tmp_path, "-rE", TILLIT_KIOSK_NAME="mine", TILLIT_ORDER_TTL_SECONDS="30")
    out = run.stdout
    assert run.returncode == 1, out + run.stderr
    assert "1 error" in out, out
    header = next(line for line in out.splitlines() if line.startswith("tillit testers' kit"))
    assert "TILLIT_KIOSK_NAME" in header and "TILLIT_ORDER_TTL_SECONDS" in header and "tillit_settings" in header
    setup = out[out.index("ERROR at setup of test_it") :].split("====")[0]
    said = [line for line in setup.splitlines()[1:] if line.strip() and not line.startswith("_")]
    assert len(said) == 1, setup  # one line, no traceback of the kit or of the command
    assert "Traceback" not in out and "pytest_plugin.py" not in setup, out
    assert said[0].startswith("tillit-") and " failed (exit code 1): " in said[0], said  # the command, its line
    assert "order_ttl_seconds" in said[0].lower(), said


def test_a_session_ended_by_sigterm_stops_the_kits_signer(tmp_path: Path) -> None:
    """A CI job's time limit sends SIGTERM. Before, the test process died at once and its
    `tillit-signer serve` went on running (Ctrl-C already stopped it)."""
    pid_file = tmp_path / "signer.pid"
    (tmp_path / "test_waits.py").write_text(
        textwrap.dedent(
            f"""
            import pathlib, time

            def test_waits(tillit_signer):
                pathlib.Path({str(pid_file)!r}).write_text(str(tillit_signer.process.pid))
                time.sleep(120)
            """
        )
    )
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not pid_file.exists():
            assert session.poll() is None and time.monotonic() < deadline, "the kit's signer did not start"
            time.sleep(0.1)
        time.sleep(0.2)
        signer = int(pid_file.read_text())
        session.send_signal(signal.SIGTERM)
        session.wait(60)
        gone = time.monotonic() + 30
        while Path(f"/proc/{signer}").exists() and "zombie" not in _state(signer) and time.monotonic() < gone:
            time.sleep(0.1)
        assert not Path(f"/proc/{signer}").exists() or "zombie" in _state(signer), "the signer outlived the session"
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()


def _state(pid: int) -> str:
    try:
        return next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("State:"))
    except (OSError, StopIteration):
        return "gone"

"""The CA chain on the running daemon, as outside tools walk it (issue 21): every URL the
certificates name answers (caIssuers in DER, the root's and the issuing CA's CRLs, OCSP by POST and
by GET with RFC 5019 caching headers); `openssl verify -crl_check_all` and pyHanko's validator with
revocation required both pass, and both refuse after `revoke-certificate --reason keyCompromise`."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import subprocess
import sys
import urllib.parse
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from asn1crypto import crl, ocsp, pem, x509

from tests.daemon import Daemon
from tests.factories import fresh_adult, self_signed

pytestmark = pytest.mark.integration


def _customer_certificate(daemon: Daemon, number: str) -> x509.Certificate:
    """The certificate the daemon's CA issued the customer, as its ledger stored it."""
    shown = json.loads(daemon.run("tillit-signer", "customers", "show", number, "--json").stdout)
    with sqlite3.connect(daemon.home / "ca.db") as db:
        (der,) = db.execute("SELECT der FROM certificates WHERE serial=?", (shown["certificateSerial"],)).fetchone()
    return x509.Certificate.load(der)


def _enrolled(daemon: Daemon, name: str = "Ola Nordmann") -> tuple[str, x509.Certificate]:
    number = fresh_adult()
    daemon.enrol(number, name)
    return number, _customer_certificate(daemon, number)


def _url(cert: x509.Certificate, method: str) -> str:
    """The one caIssuers or OCSP URL in the certificate's AIA."""
    (url,) = [
        a["access_location"].native
        for a in cert.authority_information_access_value
        if a["access_method"].native == method
    ]
    return str(url)


def _crl_url(cert: x509.Certificate) -> str:
    (point,) = cert.crl_distribution_points
    (url,) = point["distribution_point"].native
    return str(url)


def _pem_file(path: Path, der: bytes, kind: str = "CERTIFICATE") -> Path:
    path.write_bytes(pem.armor(kind, der))
    return path


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60)


# -- caIssuers --------------------------------------------------------------------------------------


def test_ca_issuers_urls_answer_one_der_certificate(daemon: Daemon) -> None:
    _, customer = _enrolled(daemon)
    issuing_url = _url(customer, "ca_issuers")
    assert issuing_url == daemon.url + "/v1/ca/issuing.cer"
    issuing_answer = httpx.get(issuing_url)
    assert issuing_answer.status_code == 200
    assert issuing_answer.headers["content-type"] == "application/pkix-cert"
    issuing = x509.Certificate.load(issuing_answer.content)
    assert issuing.subject == customer.issuer and issuing.ca

    root_url = _url(issuing, "ca_issuers")
    assert root_url == daemon.url + "/v1/ca/root.cer"
    root_answer = httpx.get(root_url)
    assert root_answer.headers["content-type"] == "application/pkix-cert"
    root = x509.Certificate.load(root_answer.content)
    assert root.subject == issuing.issuer == root.issuer

    # The PEM chain for people stays where it was.
    chain = httpx.get(daemon.url + "/v1/ca")
    assert chain.headers["content-type"].startswith("application/pem-certificate-chain")
    assert [der for _, _, der in pem.unarmor(chain.content, multiple=True)] == [issuing.dump(), root.dump()]


def test_pyhanko_fetches_the_issuers_strictly(daemon: Daemon) -> None:
    """pyHanko's fetcher with PEM refused (RFC 5280 4.2.2.1's media types only) finds each issuer."""
    from pyhanko_certvalidator.fetchers.requests_fetchers.cert_fetch_client import RequestsCertificateFetcher

    _, customer = _enrolled(daemon)

    async def issuers(cert: x509.Certificate) -> list[x509.Certificate]:
        return [c async for c in RequestsCertificateFetcher(permit_pem=False).fetch_cert_issuers(cert)]

    (issuing,) = asyncio.run(issuers(customer))
    assert issuing.subject == customer.issuer
    (root,) = asyncio.run(issuers(issuing))
    assert root.subject == issuing.issuer and root.self_signed == "maybe"


# -- the whole chain with revocation --------------------------------------------------------------------


def test_openssl_verifies_the_chain_with_every_crl_until_a_key_compromise(daemon: Daemon, tmp_path: Path) -> None:
    """Everything fetched from the URLs the certificates name: the chain with both CRLs verifies;
    after `revoke-certificate --reason keyCompromise` it fails, certificate revoked."""
    number, customer = _enrolled(daemon)
    issuing_der = httpx.get(_url(customer, "ca_issuers")).content
    issuing = x509.Certificate.load(issuing_der)
    root_der = httpx.get(_url(issuing, "ca_issuers")).content
    assert _crl_url(issuing) == daemon.url + "/v1/crl/root"
    assert _crl_url(customer) == daemon.url + "/v1/crl"
    root_crl = httpx.get(_crl_url(issuing))
    assert root_crl.headers["content-type"] == "application/pkix-crl"
    assert crl.CertificateList.load(root_crl.content).issuer == issuing.issuer

    files = {
        "root": _pem_file(tmp_path / "root.pem", root_der),
        "issuing": _pem_file(tmp_path / "issuing.pem", issuing_der),
        "customer": _pem_file(tmp_path / "customer.pem", customer.dump()),
        "root_crl": _pem_file(tmp_path / "root.crl", root_crl.content, "X509 CRL"),
    }

    def verify() -> subprocess.CompletedProcess[str]:
        _pem_file(tmp_path / "issuing.crl", httpx.get(_crl_url(customer)).content, "X509 CRL")
        return _run(
            "openssl", "verify", "-crl_check_all", "-CAfile", files["root"], "-untrusted", files["issuing"],
            "-CRLfile", files["root_crl"], "-CRLfile", tmp_path / "issuing.crl", files["customer"],
        )  # fmt: skip

    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{files['customer']}: OK"

    out = daemon.run("tillit-signer", "customers", "revoke-certificate", number, "--reason", "keyCompromise")
    assert "revoked" in out.stdout
    result = verify()
    assert result.returncode != 0
    assert "certificate revoked" in result.stdout + result.stderr
    listed = _run("openssl", "crl", "-in", tmp_path / "issuing.crl", "-noout", "-text").stdout
    assert "Key Compromise" in listed


def test_pyhanko_validates_with_revocation_required_until_revoked(daemon: Daemon) -> None:
    """pyHanko's validator given only the root, fetching allowed and revocation information required
    for every certificate in the path (what `--force-revinfo` asks): it fetches the issuing CA by
    caIssuers, the root's CRL, and the customer's OCSP or CRL, and accepts; after a revocation, no."""
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.errors import RevokedError
    from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

    number, customer = _enrolled(daemon)
    root = x509.Certificate.load(httpx.get(daemon.url + "/v1/ca/root.cer").content)

    def validate() -> Any:
        context = ValidationContext(
            trust_roots=[root], allow_fetching=True, revocation_mode="require", fetcher_backend=RequestsFetcherBackend()
        )
        validator = CertificateValidator(customer, validation_context=context)
        return asyncio.run(validator.async_validate_usage({"non_repudiation"}))

    path = validate()
    assert [c.subject for c in path] == [root.subject, customer.issuer, customer.subject]

    daemon.run("tillit-signer", "customers", "revoke-certificate", number, "--reason", "keyCompromise")
    with pytest.raises(RevokedError):
        validate()


# -- revocation reasons from the command line -----------------------------------------------------------


@pytest.mark.parametrize("reason", ["keyCompromise", "key_compromise", "cessationOfOperation"])
def test_revoke_certificate_takes_rfc_5280_and_older_reason_names(daemon: Daemon, reason: str) -> None:
    number, _ = _enrolled(daemon)
    result = daemon.run("tillit-signer", "customers", "revoke-certificate", number, "--reason", reason, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("reason", ["because", "removeFromCRL"])
def test_revoke_certificate_refuses_other_reasons_in_one_line_and_revokes_nothing(
    daemon: Daemon, reason: str, tmp_path: Path
) -> None:
    number, customer = _enrolled(daemon)
    result = daemon.run("tillit-signer", "customers", "revoke-certificate", number, "--reason", reason, check=False)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "reason" in result.stderr or "delta CRL" in result.stderr
    assert "Traceback" not in result.stderr
    revoked = crl.CertificateList.load(httpx.get(daemon.url + "/v1/crl").content)["tbs_cert_list"]
    assert customer.serial_number not in {e["user_certificate"].native for e in revoked["revoked_certificates"]}


# -- OCSP by GET --------------------------------------------------------------------------------------


@pytest.fixture
def ocsp_files(daemon: Daemon, tmp_path: Path) -> dict[str, Any]:
    number, customer = _enrolled(daemon)
    chain = tmp_path / "chain.pem"
    chain.write_text(httpx.get(daemon.url + "/v1/ca").text)
    issuing = _pem_file(tmp_path / "issuing.pem", httpx.get(daemon.url + "/v1/ca/issuing.cer").content)
    cert = _pem_file(tmp_path / "customer.pem", customer.dump())
    request = tmp_path / "req.der"
    made = _run("openssl", "ocsp", "-issuer", issuing, "-cert", cert, "-reqout", request, "-no_nonce")
    assert made.returncode == 0, made.stderr
    return {"number": number, "chain": chain, "issuing": issuing, "cert": cert, "request": request.read_bytes()}


def _openssl_reads(files: dict[str, Any], response: bytes, tmp_path: Path) -> str:
    """openssl's verdict on a response: the signature verified against the chain, then the status."""
    path = tmp_path / "resp.der"
    path.write_bytes(response)
    result = _run(
        "openssl", "ocsp", "-respin", path, "-issuer", files["issuing"], "-cert", files["cert"],
        "-CAfile", files["chain"], "-no_nonce",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Response verify OK" in result.stderr
    return result.stdout.splitlines()[0].rsplit(" ", 1)[-1]


def test_ocsp_by_get_answers_with_caching_headers(daemon: Daemon, ocsp_files: dict[str, Any], tmp_path: Path) -> None:
    encoded = base64.b64encode(ocsp_files["request"]).decode()
    for path in [
        encoded,  # as RFC 6960 A.1 spells it
        urllib.parse.quote(encoded, safe=""),  # URL-encoded
        base64.urlsafe_b64encode(ocsp_files["request"]).decode().rstrip("="),  # base64url
    ]:
        answer = httpx.get(f"{daemon.url}/v1/ocsp/{path}")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/ocsp-response"
        assert _openssl_reads(ocsp_files, answer.content, tmp_path) == "good"

        # RFC 5019 6.2: max-age ends before nextUpdate, Expires is nextUpdate, Last-Modified producedAt.
        data = ocsp.OCSPResponse.load(answer.content).basic_ocsp_response["tbs_response_data"]
        next_update = data["responses"][0]["next_update"].native
        cache = dict(part.strip().partition("=")[::2] for part in answer.headers["cache-control"].split(","))
        assert {"public", "no-transform", "must-revalidate"} <= set(cache)
        assert 0 < int(cache["max-age"]) < (next_update - datetime.now(UTC)).total_seconds()
        assert parsedate_to_datetime(answer.headers["expires"]) == next_update
        assert parsedate_to_datetime(answer.headers["last-modified"]) == data["produced_at"].native
        assert answer.headers["etag"].strip('"')

    # POST still works, with the same answer.
    posted = httpx.post(
        daemon.url + "/v1/ocsp", content=ocsp_files["request"], headers={"content-type": "application/ocsp-request"}
    )
    assert posted.status_code == 200 and _openssl_reads(ocsp_files, posted.content, tmp_path) == "good"

    daemon.run("tillit-signer", "customers", "revoke-certificate", ocsp_files["number"], "--reason", "superseded")
    answer = httpx.get(f"{daemon.url}/v1/ocsp/{encoded}")
    assert _openssl_reads(ocsp_files, answer.content, tmp_path) == "revoked"


def test_an_ocsp_answer_with_a_nonce_is_not_cached(daemon: Daemon, ocsp_files: dict[str, Any], tmp_path: Path) -> None:
    request = tmp_path / "nonce.der"
    made = _run("openssl", "ocsp", "-issuer", ocsp_files["issuing"], "-cert", ocsp_files["cert"], "-reqout", request)
    assert made.returncode == 0, made.stderr
    answer = httpx.get(f"{daemon.url}/v1/ocsp/{base64.b64encode(request.read_bytes()).decode()}")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert "expires" not in answer.headers


@pytest.mark.parametrize("path", ["not*base64", "AAAA", "%00%01"], ids=["not-base64", "not-a-request", "binary"])
def test_an_unreadable_get_request_is_a_malformed_request(daemon: Daemon, path: str) -> None:
    answer = httpx.get(f"{daemon.url}/v1/ocsp/{path}")
    assert answer.status_code == 200
    assert ocsp.OCSPResponse.load(answer.content)["response_status"].native == "malformed_request"
    assert answer.headers["cache-control"] == "no-store"


def test_a_get_request_longer_than_a_post_may_be_is_refused(daemon: Daemon) -> None:
    answer = httpx.get(f"{daemon.url}/v1/ocsp/{'A' * 8000}")
    assert answer.status_code == 414
    assert answer.json()["error"] == "uriTooLong"


def test_a_certificate_of_another_ca_is_still_unauthorized_by_get(daemon: Daemon, tmp_path: Path) -> None:
    """The responder answers only for its own CA (kept from before GET existed)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp as cocsp

    _, other = self_signed("Someone else")
    request = cocsp.OCSPRequestBuilder().add_certificate(other, other, hashes.SHA1()).build()  # noqa: S303
    encoded = base64.b64encode(request.public_bytes(serialization.Encoding.DER)).decode()
    answer = httpx.get(f"{daemon.url}/v1/ocsp/{encoded}")
    assert ocsp.OCSPResponse.load(answer.content)["response_status"].native == "unauthorized"


# -- the OCSP responder's certificate at the daemon's start ----------------------------------------------

_RESPONDER_ON_TOKEN = """
import sys
from datetime import UTC, datetime, timedelta
from asn1crypto import x509
from tillit.hsm.ca import ISSUING_LABEL, OCSP_LABEL, CertificateAuthority
from tillit.hsm.cert_profiles import extension, organisation_name
from tillit.hsm.client import Hsm
from tillit.hsm.settings import HsmSettings

with Hsm(HsmSettings()) as hsm:
    ca = CertificateAuthority.for_home(hsm)
    if sys.argv[1] == "plant":  # a responder certificate as the CA made them before: ten years
        cert = ca._certificate(
            subject=organisation_name("Tillit OCSP responder"), subject_label=OCSP_LABEL,
            issuer=ca.issuing_certificate().subject, issuer_label=ISSUING_LABEL,
            not_after=datetime.now(UTC) + timedelta(days=3640),
            extensions=[extension("extended_key_usage", ["ocsp_signing"]), extension("ocsp_no_check", None)],
        )
        hsm.store_certificate(OCSP_LABEL, cert.dump())
    print((x509.Certificate.load(hsm.certificate(OCSP_LABEL)).not_valid_after - datetime.now(UTC)).days)
"""


def test_a_daemon_renews_an_old_long_lived_responder_certificate_when_it_starts(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from tests.daemon import make_daemon

    daemon = make_daemon(tmp_path_factory.mktemp("old-responder") / "home")

    def days_left(action: str) -> int:
        result = subprocess.run(
            [sys.executable, "-c", _RESPONDER_ON_TOKEN, action], env=daemon.env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        return int(result.stdout)

    assert days_left("plant") > 3600
    daemon.start()
    try:
        assert 29 <= days_left("read") <= 30  # renewed at startup, before any OCSP request
    finally:
        daemon.stop()

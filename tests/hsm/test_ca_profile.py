"""The CA's certificates and CRLs as outside tools judge them (issue 21): pkilint's RFC 5280 and
ETSI EN 319 412-2 natural-person linters, `openssl verify -crl_check_all` over the whole chain, the
RFC 5280 revocation reasons, and the short-lived OCSP responder certificate renewed when due."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import crl, ocsp, pem, x509

from tillit.hsm import errors
from tillit.hsm.ca import OCSP_LABEL, CertificateAuthority
from tillit.hsm.cert_profiles import extension, organisation_name
from tillit.hsm.client import Hsm
from tillit.hsm.keys import Algorithm
from tillit.hsm.settings import HsmSettings

pytestmark = pytest.mark.hsm

BASE_URL = "http://127.0.0.1:8443"
PERSON_ID = "TILLIT-0b6f0b1e-8d6a-4bb8-9d64-0d0c1f0e2a11"
PKILINT = Path(sys.executable).parent


def _pem(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(pem.armor("CERTIFICATE", cert.dump()))
    return path


def _customer(hsm: Hsm, ca: CertificateAuthority, new_label: Callable[[str], str], **kw: Any) -> x509.Certificate:
    label = new_label("profile")
    hsm.generate_key(label, Algorithm.EC_P256)
    return ca.issue(label, "Kari Helene Nordmann", PERSON_ID, BASE_URL, **kw)


def pkilint_findings(tool: str, *args: str | Path) -> list[str]:
    """pkilint's findings of WARNING and above, as `code: message`, except the one it reports only
    because these test certificates name a loopback host (`etsi.internal_domain_name` for
    127.0.0.1): a production public URL names a public host."""
    result = subprocess.run(
        [str(PKILINT / tool), "lint", "-s", "WARNING", "-f", "JSON", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout, result.stderr
    findings = []
    for node in json.loads(result.stdout)["results"]:
        for finding in node["finding_descriptions"]:
            if (
                finding["code"] == "etsi.internal_domain_name"
                and finding["message"] == 'Internal domain name: "127.0.0.1"'
            ):
                continue
            findings.append(f"{node['node_path']}: {finding['severity']} {finding['code']}: {finding['message']}")
    return findings


# -- profiles, as pkilint reads them ---------------------------------------------------------------


def test_the_customer_certificate_is_a_clean_etsi_natural_person_certificate(
    hsm: Hsm, ca: CertificateAuthority, new_label: Callable[[str], str], tmp_path: Path
) -> None:
    path = _pem(tmp_path / "customer.pem", _customer(hsm, ca, new_label))
    assert pkilint_findings("lint_etsi_cert", "-t", "NCP-NATURAL-PERSON-CERTIFICATE", path) == []
    assert pkilint_findings("lint_pkix_cert", path) == []
    # pkilint recognises it on its own as what it claims to be (the NCP policy, a natural person).
    detected = subprocess.run(
        [str(PKILINT / "lint_etsi_cert"), "lint", "-d", "-o", str(path)], capture_output=True, text=True, timeout=60
    )
    assert detected.stderr.strip() == "NCP-NATURAL-PERSON-CERTIFICATE", detected.stderr


def test_the_customer_subject_is_a_natural_person_named_without_the_national_number(
    hsm: Hsm, ca: CertificateAuthority, new_label: Callable[[str], str]
) -> None:
    subject = _customer(hsm, ca, new_label).subject.native
    assert subject == {
        "serial_number": f"UN:NO-{PERSON_ID}",
        "country_name": "NO",
        "common_name": "Kari Helene Nordmann",
        "surname": "Nordmann",
        "given_name": "Kari Helene",
    }


def test_ca_and_responder_certificates_are_clean_rfc_5280(ca: CertificateAuthority, tmp_path: Path) -> None:
    for name, cert in [
        ("root", ca.root_certificate()),
        ("issuing", ca.issuing_certificate()),
        ("ocsp", ca.ocsp_certificate()),
    ]:
        assert pkilint_findings("lint_pkix_cert", _pem(tmp_path / f"{name}.pem", cert)) == [], name


def test_the_crls_are_clean_rfc_5280(ca: CertificateAuthority, tmp_path: Path) -> None:
    (tmp_path / "issuing.crl").write_bytes(ca.crl())
    (tmp_path / "root.crl").write_bytes(ca.root_crl())
    assert (
        pkilint_findings("lint_crl", "-t", "CRL", "-p", "PKIX", "--document-format", "DER", tmp_path / "issuing.crl")
        == []
    )
    assert (
        pkilint_findings("lint_crl", "-t", "ARL", "-p", "PKIX", "--document-format", "DER", tmp_path / "root.crl") == []
    )


# -- the whole chain with revocation, as openssl checks it ------------------------------------------


def test_the_chain_verifies_with_every_crl_and_a_revocation_shows(
    hsm: Hsm,
    ca: CertificateAuthority,
    new_label: Callable[[str], str],
    openssl: Callable[..., Any],
    tmp_path: Path,
) -> None:
    customer = _pem(tmp_path / "customer.pem", _customer(hsm, ca, new_label))
    root = _pem(tmp_path / "root.pem", ca.root_certificate())
    issuing = _pem(tmp_path / "issuing.pem", ca.issuing_certificate())
    (tmp_path / "root.crl").write_bytes(pem.armor("X509 CRL", ca.root_crl()))

    def verify() -> subprocess.CompletedProcess[str]:
        (tmp_path / "issuing.crl").write_bytes(pem.armor("X509 CRL", ca.crl()))
        return openssl(
            "verify", "-x509_strict", "-crl_check_all", "-CAfile", root, "-untrusted", issuing,
            "-CRLfile", tmp_path / "root.crl", "-CRLfile", tmp_path / "issuing.crl", customer,
        )  # fmt: skip

    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{customer}: OK"

    assert ca.revoke(x509.Certificate.load(pem.unarmor(customer.read_bytes())[2]).serial_number, "keyCompromise")
    result = verify()
    assert result.returncode != 0
    assert "certificate revoked" in result.stdout + result.stderr


def test_the_issuing_ca_says_where_its_revocation_and_issuer_are(ca: CertificateAuthority) -> None:
    issuing = ca.issuing_certificate()
    assert [p["distribution_point"].native for p in issuing.crl_distribution_points] == [
        ["http://127.0.0.1:8700/v1/crl/root"]
    ]
    assert [
        (a["access_method"].native, a["access_location"].native) for a in issuing.authority_information_access_value
    ] == [("ca_issuers", "http://127.0.0.1:8700/v1/ca/root.cer")]
    root_crl = crl.CertificateList.load(ca.root_crl())
    assert root_crl.issuer == ca.root_certificate().subject
    assert root_crl.crl_number_value.native >= 1
    assert ca.root_crl() == ca.root_crl()  # kept: fetching it makes the HSM sign nothing


def test_no_certificate_outlives_its_issuer(
    hsm: Hsm, ca: CertificateAuthority, new_label: Callable[[str], str]
) -> None:
    cert = _customer(hsm, ca, new_label, days=365 * 100)
    assert cert.not_valid_after == ca.issuing_certificate().not_valid_after
    assert ca.issuing_certificate().not_valid_after <= ca.root_certificate().not_valid_after


# -- revocation reasons ----------------------------------------------------------------------------


def _crl_entry(ca: CertificateAuthority, serial: int) -> crl.RevokedCertificate:
    revoked = crl.CertificateList.load(ca.crl())["tbs_cert_list"]["revoked_certificates"]
    return next(entry for entry in revoked if entry["user_certificate"].native == serial)


def test_an_unspecified_reason_is_left_out_of_the_crl_and_ocsp(
    hsm: Hsm, ca: CertificateAuthority, new_label: Callable[[str], str], openssl: Callable[..., Any], tmp_path: Path
) -> None:
    cert = _customer(hsm, ca, new_label)
    assert ca.revoke(cert.serial_number)
    entry = _crl_entry(ca, cert.serial_number)
    assert entry["crl_entry_extensions"].native in (None, [])  # RFC 5280 5.3.1: no reasonCode at all

    path = _pem(tmp_path / "c.pem", cert)
    issuing = _pem(tmp_path / "issuing.pem", ca.issuing_certificate())
    request = tmp_path / "req.der"
    assert openssl("ocsp", "-issuer", issuing, "-cert", path, "-reqout", request, "-no_nonce").returncode == 0
    status = ocsp.OCSPResponse.load(ca.ocsp_response(request.read_bytes())).basic_ocsp_response
    revoked = status["tbs_response_data"]["responses"][0]["cert_status"].chosen
    assert revoked["revocation_reason"].native is None


@pytest.mark.parametrize(
    ("given", "in_crl"),
    [
        ("keyCompromise", "key_compromise"),
        ("key_compromise", "key_compromise"),  # the older spelling still works
        ("cACompromise", "ca_compromise"),
        ("affiliationChanged", "affiliation_changed"),
        ("superseded", "superseded"),
        ("cessationOfOperation", "cessation_of_operation"),
        ("certificateHold", "certificate_hold"),
        ("privilegeWithdrawn", "privilege_withdrawn"),
        ("aACompromise", "aa_compromise"),
    ],
)
def test_rfc_5280_reasons_are_accepted_and_written(
    hsm: Hsm, ca: CertificateAuthority, new_label: Callable[[str], str], given: str, in_crl: str
) -> None:
    cert = _customer(hsm, ca, new_label)
    assert ca.revoke(cert.serial_number, given)
    extensions = _crl_entry(ca, cert.serial_number)["crl_entry_extensions"]
    assert [(e["extn_id"].native, e["extn_value"].native) for e in extensions] == [("crl_reason", in_crl)]


@pytest.mark.parametrize(
    ("reason", "message"),
    [("because", "unknown revocation reason 'because'"), ("removeFromCRL", "only appears in delta CRLs")],
)
def test_other_reasons_are_refused_and_change_nothing(
    hsm: Hsm, ca: CertificateAuthority, new_label: Callable[[str], str], reason: str, message: str
) -> None:
    cert = _customer(hsm, ca, new_label)
    with pytest.raises(errors.HsmError, match=message):
        ca.revoke(cert.serial_number, reason)
    found = ca.status(cert.serial_number)
    assert found is not None and found.revoked_at is None


# -- the OCSP responder's certificate ---------------------------------------------------------------


def _plant_responder_certificate(ca: CertificateAuthority, lifetime: timedelta) -> x509.Certificate:
    """Store on the token a responder certificate (for the responder's own key) ending in `lifetime`,
    as one made long ago or by an older version would."""
    issuing = ca.issuing_certificate()
    cert = ca._certificate(
        subject=organisation_name("Tillit OCSP responder"),
        subject_label=OCSP_LABEL,
        issuer=issuing.subject,
        issuer_label="tillit-issuing-ca",
        not_after=datetime.now(UTC) + lifetime,
        extensions=[
            extension("key_usage", x509.KeyUsage({"digital_signature"}), critical=True),
            extension("extended_key_usage", ["ocsp_signing"]),
            extension("ocsp_no_check", None),
        ],
    )
    ca.hsm.store_certificate(OCSP_LABEL, cert.dump())
    return cert


def _days_left(cert: x509.Certificate) -> float:
    left: timedelta = cert.not_valid_after - datetime.now(UTC)
    return left.total_seconds() / 86400


def test_the_responder_certificate_is_short_lived(ca: CertificateAuthority) -> None:
    fresh = CertificateAuthority(ca.hsm, ca.ledger)
    assert 7 < _days_left(fresh.ocsp_certificate()) <= 30


@pytest.mark.parametrize("lifetime", [timedelta(days=3), timedelta(days=3640)], ids=["ending-soon", "made-long-ago"])
def test_a_due_responder_certificate_is_renewed_at_startup_and_on_use(
    ca: CertificateAuthority,
    files_dir: Path,
    openssl: Callable[..., Any],
    lifetime: timedelta,
) -> None:
    planted = _plant_responder_certificate(ca, lifetime)

    at_startup = CertificateAuthority(ca.hsm, ca.ledger)  # a daemon starting on this token
    assert at_startup.renew_ocsp_certificate_if_due() is True
    renewed = at_startup.ocsp_certificate()
    assert renewed.serial_number != planted.serial_number
    assert 29 < _days_left(renewed) <= 30
    assert x509.Certificate.load(ca.hsm.certificate(OCSP_LABEL) or b"").serial_number == renewed.serial_number
    assert at_startup.renew_ocsp_certificate_if_due() is False  # renewed once, then left alone

    _plant_responder_certificate(ca, lifetime)
    in_use = CertificateAuthority(ca.hsm, ca.ledger)
    response = ocsp.OCSPResponse.load(in_use.ocsp_response(_request_for(ca, files_dir, openssl)))
    signer = response.basic_ocsp_response["certs"][0]
    assert 29 < _days_left(signer) <= 30  # answered with a renewed certificate


def test_two_daemons_renewing_on_one_token_is_harmless(
    ca: CertificateAuthority,
    hsm_settings: HsmSettings,
    files_dir: Path,
    openssl: Callable[..., Any],
) -> None:
    """Two daemons share the token, each with its own connection and caches: both find the
    certificate due and both renew it. Each answers with its own new certificate, and openssl
    accepts both answers; the token keeps one."""
    _plant_responder_certificate(ca, timedelta(days=2))
    request = _request_for(ca, files_dir, openssl)
    with Hsm(hsm_settings) as other_connection:
        assert other_connection.certificate(OCSP_LABEL) == ca.hsm.certificate(OCSP_LABEL)  # both saw it due
        first = CertificateAuthority(ca.hsm, ca.ledger)
        second = CertificateAuthority(other_connection, ca.ledger)
        assert first.renew_ocsp_certificate_if_due() and second.renew_ocsp_certificate_if_due()
        answers = [first.ocsp_response(request), second.ocsp_response(request)]
    responders = [ocsp.OCSPResponse.load(a).basic_ocsp_response["certs"][0].serial_number for a in answers]
    assert responders[0] != responders[1]
    for n, answer in enumerate(answers):
        path = files_dir / f"two-{n}.der"
        path.write_bytes(answer)
        result = openssl(
            "ocsp", "-respin", path, "-issuer", files_dir / "issuing.pem", "-serial", "0x1234",
            "-CAfile", files_dir / "root.pem", "-verify_other", files_dir / "issuing.pem", "-no_nonce",
        )  # fmt: skip
        assert result.returncode == 0 and "Response verify OK" in result.stderr, result.stdout + result.stderr
    kept = CertificateAuthority(ca.hsm, ca.ledger).ocsp_certificate()
    assert kept.serial_number in responders or 29 < _days_left(kept) <= 30


@pytest.fixture
def files_dir(ca: CertificateAuthority, tmp_path: Path) -> Path:
    _pem(tmp_path / "root.pem", ca.root_certificate())
    _pem(tmp_path / "issuing.pem", ca.issuing_certificate())
    return tmp_path


def _request_for(ca: CertificateAuthority, files_dir: Path, openssl: Callable[..., Any]) -> bytes:
    request = files_dir / "req.der"
    result = openssl("ocsp", "-issuer", files_dir / "issuing.pem", "-serial", "0x1234", "-reqout", request, "-no_nonce")
    assert result.returncode == 0, result.stderr
    return request.read_bytes()


# -- `tillit-hsm ca init --public-url` ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "base"),
    [
        (["--public-url", "http://ca.tillit.example/"], {}, "http://ca.tillit.example"),
        ([], {"TILLIT_PUBLIC_URL": "http://pki.tillit.example"}, "http://pki.tillit.example"),
        ([], {"TILLIT_PORT": "8123"}, "http://127.0.0.1:8123"),  # the signer's own default, host:port
    ],
    ids=["option", "public-url-setting", "host-and-port"],
)
def test_ca_init_writes_the_signers_public_url_into_the_issuing_ca(
    tillit_hsm: Callable[..., Any],
    check_ok: Callable[..., Any],
    tmp_path: Path,
    args: list[str],
    env: dict[str, str],
    base: str,
) -> None:
    check_ok(tillit_hsm("init", home=tmp_path))
    check_ok(tillit_hsm("ca", "init", *args, home=tmp_path, env=env))
    chain = check_ok(tillit_hsm("ca", "show", home=tmp_path)).stdout.encode()
    issuing = x509.Certificate.load(pem.unarmor(chain, multiple=True).__next__()[2])
    (point,) = issuing.crl_distribution_points
    assert point["distribution_point"].native == [f"{base}/v1/crl/root"]
    (issuers,) = issuing.authority_information_access_value
    assert issuers["access_location"].native == f"{base}/v1/ca/root.cer"

    root_crl = crl.CertificateList.load(
        pem.unarmor(check_ok(tillit_hsm("ca", "crl", "--root", home=tmp_path)).stdout.encode())[2]
    )
    assert root_crl.issuer == issuing.issuer

    again = tillit_hsm("ca", "init", "--public-url", "http://elsewhere.example", home=tmp_path)
    assert again.returncode != 0 and "already initialised" in again.stderr  # an existing CA stays as it is


def test_ca_init_refuses_a_public_url_that_is_no_url(
    tillit_hsm: Callable[..., Any], check_ok: Callable[..., Any], tmp_path: Path
) -> None:
    check_ok(tillit_hsm("init", home=tmp_path))
    refused = tillit_hsm("ca", "init", "--public-url", "ftp://x", home=tmp_path)
    assert refused.returncode != 0 and refused.stderr.count("\n") == 1 and "http://" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert tillit_hsm("ca", "show", home=tmp_path).returncode != 0  # nothing was made

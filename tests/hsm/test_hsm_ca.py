"""The CA with its keys in the token: certificates, CRLs and OCSP responses that OpenSSL accepts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import ocsp, pem, x509
from cryptography.hazmat.primitives import serialization

from tillit.hsm import errors
from tillit.hsm.ca import CertificateAuthority
from tillit.hsm.client import Hsm
from tillit.hsm.keys import Algorithm

pytestmark = pytest.mark.hsm

BASE_URL = "http://127.0.0.1:8443/"
PERSON_ID = "TILLIT-5f0c1e9a-7d3b-4c1e-9a55-0b8e2f4d6c13"


@dataclass
class Files:
    dir: Path
    chain: Path
    root: Path
    issuing: Path

    def cert(self, name: str, cert: x509.Certificate) -> Path:
        path = self.dir / f"{name}.pem"
        path.write_bytes(pem.armor("CERTIFICATE", cert.dump()))
        return path


@pytest.fixture(scope="module")
def files(ca: CertificateAuthority, tmp_path_factory: pytest.TempPathFactory) -> Files:
    where = tmp_path_factory.mktemp("ca")
    chain = where / "chain.pem"
    chain.write_text(ca.chain_pem())
    root = where / "root.pem"
    root.write_bytes(pem.armor("CERTIFICATE", ca.root_certificate().dump()))
    issuing = where / "issuing.pem"
    issuing.write_bytes(pem.armor("CERTIFICATE", ca.issuing_certificate().dump()))
    return Files(where, chain, root, issuing)


def _issue(
    hsm: Hsm, ca: CertificateAuthority, new_label: Callable[[str], str], algorithm: Algorithm
) -> tuple[str, x509.Certificate]:
    label = new_label(f"cert-{algorithm}")
    hsm.generate_key(label, algorithm)
    return label, ca.issue(label, "Kari Nordmann", PERSON_ID, BASE_URL)


def _serial_hex(serial: int) -> str:
    text = f"{serial:X}"
    return text if len(text) % 2 == 0 else "0" + text


# -- certificates -------------------------------------------------------------------------------


def test_chain_is_issuing_then_root(ca: CertificateAuthority) -> None:
    issuing, root = ca.chain()
    assert issuing.issuer == root.subject
    assert root.self_signed == "maybe"  # asn1crypto: issuer == subject, signature not checked
    assert issuing.ca and root.ca
    assert issuing.max_path_length == 0
    assert ca.chain_pem().count("-----BEGIN CERTIFICATE-----") == 2


def test_ca_certificates_verify_strictly(files: Files, ca: CertificateAuthority, openssl: Callable[..., Any]) -> None:
    result = openssl("verify", "-x509_strict", "-CAfile", files.root, files.issuing)
    assert result.returncode == 0, result.stdout + result.stderr
    responder = files.cert("ocsp-responder", ca.ocsp_certificate())
    result = openssl(
        "verify",
        "-x509_strict",
        "-CAfile",
        files.root,
        "-untrusted",
        files.issuing,
        "-purpose",
        "ocsphelper",
        responder,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("algorithm", [Algorithm.EC_P256, Algorithm.RSA_2048], ids=str)
def test_issued_certificate_verifies_against_the_chain(
    hsm: Hsm,
    ca: CertificateAuthority,
    files: Files,
    openssl: Callable[..., Any],
    new_label: Callable[[str], str],
    algorithm: Algorithm,
) -> None:
    label, cert = _issue(hsm, ca, new_label, algorithm)
    path = files.cert(label, cert)

    result = openssl("verify", "-CAfile", files.chain, path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{path}: OK"
    result = openssl("verify", "-x509_strict", "-CAfile", files.root, "-untrusted", files.issuing, path)
    assert result.returncode == 0, result.stdout + result.stderr
    # Without the issuing CA the chain is broken.
    result = openssl("verify", "-CAfile", files.root, path)
    assert result.returncode != 0

    # The certificate is for the token's key, and stored on the token beside it.
    public = hsm.public_key(label).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert cert.public_key.dump() == public
    assert hsm.certificate(label) == cert.dump()
    assert hsm.key_info(label).has_certificate
    assert ca.status(cert.serial_number) is not None


def test_issued_certificate_extensions(
    hsm: Hsm,
    ca: CertificateAuthority,
    files: Files,
    openssl: Callable[..., Any],
    new_label: Callable[[str], str],
) -> None:
    label, cert = _issue(hsm, ca, new_label, Algorithm.EC_P256)
    result = openssl("x509", "-in", files.cert(label, cert), "-noout", "-text")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    lines = [line.strip() for line in text.splitlines()]
    assert "X509v3 Key Usage: critical" in lines
    assert lines[lines.index("X509v3 Key Usage: critical") + 1] == "Non Repudiation"
    assert "CA:FALSE" in lines
    assert "X509v3 CRL Distribution Points:" in lines
    assert "URI:http://127.0.0.1:8443/v1/crl" in lines
    assert "OCSP - URI:http://127.0.0.1:8443/v1/ocsp" in lines
    assert "CA Issuers - URI:http://127.0.0.1:8443/v1/ca/issuing.cer" in lines
    subject = next(line for line in lines if line.startswith("Subject:"))
    assert "CN = Kari Nordmann" in subject and f"serialNumber = UN:NO-{PERSON_ID}" in subject
    assert "GN = Kari" in subject and "SN = Nordmann" in subject and "O =" not in subject
    assert "Policy: 1.3.6.1.4.1.32473.1.1.1" in lines and "Policy: 0.4.0.2042.1.1" in lines
    assert "Issuer: C = NO, O = Tillit, CN = Tillit Issuing CA" in text


def test_issuing_for_a_missing_key_says_so(ca: CertificateAuthority) -> None:
    with pytest.raises(errors.KeyNotFound, match="no-such-key"):
        ca.issue("no-such-key", "Nobody", "0", BASE_URL)


# -- CRL ----------------------------------------------------------------------------------------


def test_crl_verifies_and_lists_revoked_certificates(
    hsm: Hsm,
    ca: CertificateAuthority,
    files: Files,
    openssl: Callable[..., Any],
    new_label: Callable[[str], str],
) -> None:
    _, revoked = _issue(hsm, ca, new_label, Algorithm.EC_P256)
    _, kept = _issue(hsm, ca, new_label, Algorithm.EC_P256)
    assert ca.revoke(revoked.serial_number, "key_compromise") is True
    assert ca.revoke(revoked.serial_number) is False  # already revoked

    crl = files.dir / "crl.der"
    crl.write_bytes(ca.crl())
    result = openssl("crl", "-inform", "DER", "-in", crl, "-CAfile", files.chain, "-noout")
    assert result.returncode == 0, result.stderr
    assert "verify OK" in result.stderr

    result = openssl("crl", "-inform", "DER", "-in", crl, "-noout", "-text")
    assert result.returncode == 0, result.stderr
    assert f"Serial Number: {_serial_hex(revoked.serial_number)}" in result.stdout
    assert _serial_hex(kept.serial_number) not in result.stdout
    assert "Key Compromise" in result.stdout
    assert "Issuer: C = NO, O = Tillit, CN = Tillit Issuing CA" in result.stdout


def test_crl_numbers_increase(ca: CertificateAuthority) -> None:
    from asn1crypto import crl

    first = crl.CertificateList.load(ca.crl()).crl_number_value.native
    second = crl.CertificateList.load(ca.crl()).crl_number_value.native
    assert second > first


def test_revoking_unknown_serials_and_reasons_is_refused(
    hsm: Hsm, ca: CertificateAuthority, new_label: Callable[[str], str]
) -> None:
    with pytest.raises(errors.HsmError, match="no certificate with serial"):
        ca.revoke(0x1234)
    _, cert = _issue(hsm, ca, new_label, Algorithm.EC_P256)
    with pytest.raises(errors.HsmError, match="unknown revocation reason"):
        ca.revoke(cert.serial_number, "because")


# -- OCSP ---------------------------------------------------------------------------------------


def _ocsp(
    ca: CertificateAuthority, files: Files, openssl: Callable[..., Any], name: str, *target: str | Path
) -> tuple[str, bytes]:
    """Ask about `target` (`-cert PATH` or `-serial N`); return openssl's verdict and our response."""
    request = files.dir / f"{name}-req.der"
    result = openssl("ocsp", "-issuer", files.issuing, *target, "-reqout", request, "-no_nonce")
    assert result.returncode == 0, result.stderr
    response = ca.ocsp_response(request.read_bytes())
    path = files.dir / f"{name}-resp.der"
    path.write_bytes(response)
    result = openssl("ocsp", "-respin", path, "-issuer", files.issuing, *target, "-CAfile", files.chain, "-no_nonce")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Response verify OK" in result.stderr
    return result.stdout, response


def test_ocsp_good_then_revoked(
    hsm: Hsm,
    ca: CertificateAuthority,
    files: Files,
    openssl: Callable[..., Any],
    new_label: Callable[[str], str],
) -> None:
    label, cert = _issue(hsm, ca, new_label, Algorithm.RSA_2048)
    path = files.cert(label, cert)

    verdict, _ = _ocsp(ca, files, openssl, "before", "-cert", path)
    assert verdict.splitlines()[0] == f"{path}: good"

    ca.revoke(cert.serial_number, "superseded")
    verdict, response = _ocsp(ca, files, openssl, "after", "-cert", path)
    assert verdict.splitlines()[0] == f"{path}: revoked"
    assert "Reason: superseded" in verdict

    basic = ocsp.OCSPResponse.load(response).basic_ocsp_response
    assert basic["tbs_response_data"]["responses"][0]["cert_status"].name == "revoked"


def test_ocsp_unknown_serial(ca: CertificateAuthority, files: Files, openssl: Callable[..., Any]) -> None:
    verdict, _ = _ocsp(ca, files, openssl, "unknown", "-serial", "0x1234")
    assert verdict.splitlines()[0] == "0x1234: unknown"


def test_ocsp_nonce_is_echoed(
    hsm: Hsm,
    ca: CertificateAuthority,
    files: Files,
    openssl: Callable[..., Any],
    new_label: Callable[[str], str],
) -> None:
    label, cert = _issue(hsm, ca, new_label, Algorithm.EC_P256)
    request = files.dir / "nonce-req.der"
    result = openssl("ocsp", "-issuer", files.issuing, "-cert", files.cert(label, cert), "-reqout", request)
    assert result.returncode == 0, result.stderr
    response = files.dir / "nonce-resp.der"
    response.write_bytes(ca.ocsp_response(request.read_bytes()))

    # With -reqin, openssl checks the response's nonce against the request's.
    result = openssl("ocsp", "-reqin", request, "-respin", response, "-CAfile", files.chain)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Response verify OK" in result.stderr
    assert "Nonce Verify error" not in result.stderr

    asked = ocsp.OCSPRequest.load(request.read_bytes()).nonce_value
    answered = ocsp.OCSPResponse.load(response.read_bytes()).basic_ocsp_response
    echoed = answered["tbs_response_data"]["response_extensions"][0]
    assert echoed["extn_id"].native == "nonce"
    assert asked is not None and echoed["extn_value"].parsed.native == asked.native


@pytest.mark.parametrize(
    "request_der",
    [b"", b"garbage", b"\x30\x00", b"\x30\x02\x30\x00", b"\x30\x82\xff\xff", b"\x30\x03\x02\x01\x01"],
    ids=["empty", "garbage", "empty-sequence", "empty-tbs", "truncated", "wrong-type"],
)
def test_malformed_ocsp_requests_get_a_malformed_request_response(ca: CertificateAuthority, request_der: bytes) -> None:
    response = ocsp.OCSPResponse.load(ca.ocsp_response(request_der))
    assert response["response_status"].native == "malformed_request"
    assert response.dump() == ca.ocsp_response(request_der)


def test_a_certificate_is_not_an_ocsp_request(ca: CertificateAuthority) -> None:
    response = ocsp.OCSPResponse.load(ca.ocsp_response(ca.root_certificate().dump()))
    assert response["response_status"].native == "malformed_request"


def test_the_chain_can_be_used_by_many_threads_at_once(ca: CertificateAuthority) -> None:
    """asn1crypto parses on first access and not safely from two threads at once; the CA's
    certificates are shared by every signing thread, so they must come out parsed whole. With the
    daemon's short GIL switch interval, unparsed copies failed here within a few hundred rounds."""
    import sys
    import threading

    from pyhanko_certvalidator.registry import SimpleCertificateStore

    failures: list[BaseException] = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.00001)
    try:
        for _ in range(300):
            fresh = CertificateAuthority(ca.hsm, ca.ledger)  # an empty certificate cache, as after a restart
            start = threading.Barrier(3)

            def use(authority: CertificateAuthority = fresh, barrier: threading.Barrier = start) -> None:
                barrier.wait()
                try:
                    for cert in authority.chain():
                        _ = cert.issuer.hashable, cert.subject.human_friendly, cert.serial_number
                    SimpleCertificateStore.from_certs(authority.chain())
                except Exception as e:  # any error is the finding
                    failures.append(e)

            threads = [threading.Thread(target=use) for _ in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not failures, failures[:3]


def test_a_reused_ocsp_response_never_hides_a_revocation(
    hsm: Hsm,
    ca: CertificateAuthority,
    files: Files,
    openssl: Callable[..., Any],
    new_label: Callable[[str], str],
) -> None:
    """Without a nonce the signed answer is handed out again (no new HSM signature), but only while
    the statuses are the same: the revocation shows in the very next answer, verified by openssl."""
    label, cert = _issue(hsm, ca, new_label, Algorithm.EC_P256)
    path = files.cert(label, cert)
    request = files.dir / "reuse-req.der"
    assert openssl("ocsp", "-issuer", files.issuing, "-cert", path, "-reqout", request, "-no_nonce").returncode == 0
    first = ca.ocsp_response(request.read_bytes(), reuse_for=60)
    assert ca.ocsp_response(request.read_bytes(), reuse_for=60) == first  # reused, not signed again
    ca.revoke(cert.serial_number, "key_compromise")
    after = ca.ocsp_response(request.read_bytes(), reuse_for=60)
    response = files.dir / "reuse-resp.der"
    response.write_bytes(after)
    check = ("-issuer", files.issuing, "-cert", path, "-CAfile", files.chain, "-no_nonce")
    result = openssl("ocsp", "-respin", response, *check)
    assert result.returncode == 0 and "Response verify OK" in result.stderr, result.stdout + result.stderr
    assert f"{path}: revoked" in result.stdout

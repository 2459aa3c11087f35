"""Signatures that outlive their certificates (issue 21): Tillit's RFC 3161 TSA, PAdES B-LTA and
CAdES-T from the real daemon, validated offline years later after the customer's certificate was
revoked, with only the root trusted; timestamps checked by `openssl ts`, PDFs by `pdfsig`."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from asn1crypto import cms, pem, tsp, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESPassed
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.validation import ades
from pyhanko.sign.validation.policy_decl import (
    CertificateFetchingRule,
    LocalKnowledge,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator.authority import CertTrustAnchor
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy, NonRevokedStatusAssertion
from pyhanko_certvalidator.registry import SimpleTrustManager

from tests.daemon import PASSWORD, Daemon, make_daemon, tool
from tests.factories import fresh_adult
from tests.hsm.test_ca_profile import pkilint_findings
from tests.integration.test_signing import approve_next, start_sign
from tillit.phone.client import PhoneClient
from tillit.signer.sample_documents import agreement_pdf
from tillit.signer.settings import TSA_POLICY

pytestmark = pytest.mark.integration

ATTACHMENT = b"Vedlegg: nedbetalingsplan\nTermin 1: 4 250 kr\n"
IN_2031 = datetime(2031, 6, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def trust(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The root alone (the one trust anchor), the chain, and an NSS database trusting the root."""
    folder = tmp_path_factory.mktemp("trust")
    chain = httpx.get(daemon.url + "/v1/ca").text
    pems = [p for p in chain.split("-----END CERTIFICATE-----") if "BEGIN" in p]
    (folder / "chain.pem").write_text(chain)
    (folder / "root.pem").write_text(pems[-1].strip() + "\n-----END CERTIFICATE-----\n")
    nss = folder / "nss"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{nss}", "-n", "tillit-root", "-t", "CT,C,C", "-i", str(folder / "root.pem")],
        check=True,
    )
    return {"root": folder / "root.pem", "chain": folder / "chain.pem", "nss": nss}


def root_certificate(trust: dict[str, Path]) -> x509.Certificate:
    return x509.Certificate.load(pem.unarmor(trust["root"].read_bytes())[2])


@pytest.fixture(scope="module")
def bb_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon making the old signatures: PAdES B-B and CAdES-BES."""
    d = make_daemon(tmp_path_factory.mktemp("bb") / "home", TILLIT_PADES_LEVEL="B-B")
    d.start()
    yield d
    d.stop()


def sign_pdf_and_text(daemon: Daemon, folder: Path) -> tuple[str, Path, Path]:
    """Enrol a customer, sign a PDF and a text file through the kiosk API with the phone's approval;
    the signed PDF and the .p7s (beside the text) in `folder`."""
    number = fresh_adult()
    daemon.enrol(number, "Ola Nordmann")
    phone: PhoneClient = daemon.add_device(number)
    pdf = agreement_pdf("Lånavtale", "Ola Nordmann", pages=2)
    try:
        with daemon.kiosk() as k:
            order = start_sign(
                k, number, [("laan.pdf", "application/pdf", pdf), ("plan.txt", "text/plain", ATTACHMENT)]
            )
            approve_next(phone)
            done = k.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD}).json()
            assert done["status"] == "complete", done
            signed_pdf = k.get(f"/v1/orders/{order['orderRef']}/documents/0").content
            p7s = k.get(f"/v1/orders/{order['orderRef']}/documents/1").content
    finally:
        phone.close()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "laan.pdf").write_bytes(signed_pdf)
    (folder / "plan.txt").write_bytes(ATTACHMENT)
    (folder / "plan.p7s").write_bytes(p7s)
    return number, folder / "laan.pdf", folder / "plan.p7s"


def lta_validation(
    pdf: Path, root: x509.Certificate, at: datetime, unrevoked: tuple[x509.Certificate, ...] = ()
) -> ades.AdESLTAValidationResult:
    """pyHanko's EN 319 102-1 LTA validation at `at` (to come): the root only, no fetching of anything;
    the `unrevoked` certificates taken as not revoked at `at` (no status from the future exists)."""
    spec = SignatureValidationSpec(
        local_knowledge=LocalKnowledge(
            nonrevoked_assertions=[NonRevokedStatusAssertion(c.sha256, at=at) for c in unrevoked]
        ),
        cert_validation_policy=CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build([CertTrustAnchor(root)]),
            revinfo_policy=CertRevTrustPolicy(REQUIRE_REVINFO),
        ),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY,
            certificate_fetching_rule=CertificateFetchingRule.NEVER_FETCH,
        ),
    )
    reader = PdfFileReader(io.BytesIO(pdf.read_bytes()), strict=False)
    signature = reader.embedded_regular_signatures[0]
    # A date to come: pyHanko's LTA process at that date, with the document's own material alone and
    # the archive presumed to keep renewing the document timestamps until then (its simulation).
    return asyncio.run(ades.simulate_future_ades_lta_validation(signature, PdfSignatureValidationSpec(spec), at))


def verify(daemon: Daemon, *args: str) -> tuple[int, list[dict[str, str]], str]:
    result = daemon.run("tillit-signer", "verify", *args, "--json", check=False)
    verdicts = json.loads(result.stdout) if result.returncode in (0, 1) else []
    return result.returncode, verdicts, result.stderr


def signature_timestamp(signer_info: cms.SignerInfo) -> bytes:
    """The DER signature-time-stamp token of a SignerInfo (its unsigned attribute)."""
    for attribute in signer_info["unsigned_attrs"] or []:
        if attribute["type"].native == "signature_time_stamp_token":
            return bytes(attribute["values"][0].dump())
    raise AssertionError("no signature timestamp")


def anchors(trust: dict[str, Path]) -> list[str]:
    """openssl's trust options: the root alone trusted, the chain only as untrusted certificates."""
    return ["-CAfile", str(trust["root"]), "-untrusted", str(trust["chain"])]


def openssl_ts_verify(token: Path, digest: bytes, trust: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "ts", "-verify", "-token_in", "-in", str(token), "-digest", digest.hex(), *anchors(trust)],
        capture_output=True,
        text=True,
    )


def test_lta_signatures_pass_in_2031_after_the_certificate_is_revoked(
    daemon: Daemon, trust: dict[str, Path], tmp_path: Path
) -> None:
    number, pdf, p7s = sign_pdf_and_text(daemon, tmp_path)
    content = tmp_path / "plan.txt"
    # The CA records a revocation to the second: one in the signature timestamp's own second could
    # read as before it. A revocation comes later than that in life; here, in the next second.
    time.sleep(1.1)
    daemon.run("tillit-signer", "customers", "revoke-certificate", number, "--reason", "keyCompromise")
    root = root_certificate(trust)

    # The PDF: pyHanko's own LTA validation, offline, the root alone trusted, in 2031.
    result = lta_validation(pdf, root, IN_2031)
    assert result.ades_subindic == AdESPassed.OK, (result.ades_subindic, result.failure_msg)
    assert result.oldest_evidence_record_timestamp is not None  # the document timestamp was used

    # Both, through `tillit-signer verify` (pyHanko's AdES processes underneath).
    code, verdicts, stderr = verify(daemon, str(pdf), "--at", "2031-06-01")
    assert code == 0, (verdicts, stderr)
    assert [(v["indication"], v["level"]) for v in verdicts] == [("PASSED", "B-LTA")]
    assert "Ola Nordmann" in verdicts[0]["signer"]
    code, verdicts, stderr = verify(daemon, str(p7s), "--content", str(content), "--at", "2031-06-01")
    assert code == 0, (verdicts, stderr)
    assert [(v["indication"], v["level"]) for v in verdicts] == [("PASSED", "B-LT")]
    # The content is what the signature covers: another text fails.
    (tmp_path / "other.txt").write_bytes(ATTACHMENT + b"Termin 2: 0 kr\n")
    code, verdicts, _ = verify(daemon, str(p7s), "--content", str(tmp_path / "other.txt"))
    assert code == 1 and verdicts[0]["indication"] == "FAILED", verdicts

    # pdfsig (poppler): the customer's signature still valid, the document not modified after it.
    report = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{trust['nss']}", str(pdf)], capture_output=True, text=True
    ).stdout
    customer_part, *timestamp_parts = report.split("Signature #")[1:]
    assert "Ola Nordmann" in customer_part and "Signature is Valid." in customer_part, report
    # (Its certificate check is poppler's own: today's status, online; it says Revoked, as it should.)
    # ... and nothing but Tillit's document timestamp after it, over the whole file.
    assert timestamp_parts and "Tillit Timestamp Authority" in timestamp_parts[-1], report
    assert "Total document signed" in timestamp_parts[-1], report

    # openssl accepts both signature timestamps, each over its signature value.
    reader = PdfFileReader(io.BytesIO(pdf.read_bytes()), strict=False)
    pdf_signer_info = reader.embedded_regular_signatures[0].signer_info
    cms_signer_info = cms.ContentInfo.load(p7s.read_bytes())["content"]["signer_infos"][0]
    for name, signer_info in (("pdf", pdf_signer_info), ("cms", cms_signer_info)):
        token = tmp_path / f"{name}.tst"
        token.write_bytes(signature_timestamp(signer_info))
        checked = openssl_ts_verify(token, hashlib.sha256(signer_info["signature"].native).digest(), trust)
        assert checked.returncode == 0 and "Verification: OK" in checked.stdout, checked.stderr


def test_bb_signatures_fail_in_2031(bb_daemon: Daemon, tmp_path: Path) -> None:
    """Without Tillit's timestamps (B-B, CAdES-BES) the same check cannot pass: the reason for B-LTA."""
    chain = httpx.get(bb_daemon.url + "/v1/ca").text
    root_pem = chain[chain.rindex("-----BEGIN CERTIFICATE-----") :]
    root = x509.Certificate.load(pem.unarmor(root_pem.encode())[2])
    number, pdf, p7s = sign_pdf_and_text(bb_daemon, tmp_path)
    time.sleep(1.1)  # as above: the revocation in a later second than the signature
    bb_daemon.run("tillit-signer", "customers", "revoke-certificate", number)
    result = lta_validation(pdf, root, IN_2031)
    assert result.ades_subindic != AdESPassed.OK
    code, verdicts, _ = verify(bb_daemon, str(pdf), "--at", "2031-06-01")
    assert code == 1 and verdicts[0]["level"] == "B-B" and verdicts[0]["indication"] != "PASSED", verdicts
    code, verdicts, _ = verify(bb_daemon, str(p7s), "--content", str(tmp_path / "plan.txt"), "--at", "2031-06-01")
    assert code == 1 and verdicts[0]["level"] == "B-B" and verdicts[0]["indication"] != "PASSED", verdicts


def test_archive_timestamp_renews_the_chain(daemon: Daemon, trust: dict[str, Path], tmp_path: Path) -> None:
    _, pdf, _ = sign_pdf_and_text(daemon, tmp_path)
    pdf.chmod(0o640)  # an archive's own mode, which the renewed file keeps
    files_before = sorted(tmp_path.iterdir())
    before = len(PdfFileReader(io.BytesIO(pdf.read_bytes()), strict=False).embedded_timestamp_signatures)
    done = daemon.run("tillit-signer", "archive-timestamp", str(pdf))
    assert "document timestamp added" in done.stdout
    assert stat.S_IMODE(pdf.stat().st_mode) == 0o640
    assert sorted(tmp_path.iterdir()) == files_before  # nothing left beside it
    after = PdfFileReader(io.BytesIO(pdf.read_bytes()), strict=False).embedded_timestamp_signatures
    assert len(after) == before + 1
    result = lta_validation(pdf, root_certificate(trust), IN_2031)
    assert result.ades_subindic == AdESPassed.OK, (result.ades_subindic, result.failure_msg)
    report = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{trust['nss']}", str(pdf)], capture_output=True, text=True
    ).stdout
    assert "Signature is Valid." in report, report
    # A PDF without a document timestamp is named and left alone.
    plain, unsigned = tmp_path / "plain.pdf", agreement_pdf("Avtale", "Kari", pages=1)
    plain.write_bytes(unsigned)
    refused = daemon.run("tillit-signer", "archive-timestamp", str(plain), check=False)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert plain.read_bytes() == unsigned


# `tillit-signer archive-timestamp` run whole (HSM, TSA, pyHanko), with the flush to the disk of one
# renewed file failing as on a dying disk: os.fsync raises EIO for descriptors of files named "failing".
ARCHIVE_WITH_A_FAILING_DISK = """
import errno, os, sys
real_fsync = os.fsync
def fsync(descriptor):
    if "failing" in os.readlink(f"/proc/self/fd/{descriptor}"):
        raise OSError(errno.EIO, os.strerror(errno.EIO))
    real_fsync(descriptor)
os.fsync = fsync
from tillit.signer.cli import main
main(["archive-timestamp", *sys.argv[1:]])
"""


def test_archive_timestamp_leaves_a_pdf_it_cannot_write_as_it_was(daemon: Daemon, tmp_path: Path) -> None:
    _, pdf, _ = sign_pdf_and_text(daemon, tmp_path / "signed")
    archive = tmp_path / "archive"
    archive.mkdir()
    failing, renewed = archive / "failing.pdf", archive / "renewed.pdf"
    for path in (failing, renewed):
        path.write_bytes(pdf.read_bytes())
        path.chmod(0o644)
    result = subprocess.run(
        [sys.executable, "-c", ARCHIVE_WITH_A_FAILING_DISK, str(failing), str(renewed)],
        env=daemon.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"tillit-signer: {failing}: cannot write the renewed PDF: Input/output error"
    ]
    assert failing.read_bytes() == pdf.read_bytes()  # the old file, whole
    assert f"{renewed}: document timestamp added" in result.stdout  # the next file is still renewed
    assert len(renewed.read_bytes()) > len(pdf.read_bytes())
    assert sorted(p.name for p in archive.iterdir()) == ["failing.pdf", "renewed.pdf"]  # no temporary file
    assert {stat.S_IMODE(p.stat().st_mode) for p in (failing, renewed)} == {0o644}


def test_tsa_over_http_with_openssl_and_pyhanko(daemon: Daemon, trust: dict[str, Path], tmp_path: Path) -> None:
    data = tmp_path / "f"
    data.write_bytes(b"hello, archive\n")
    query = subprocess.run(
        ["openssl", "ts", "-query", "-data", str(data), "-sha256", "-cert"], capture_output=True, check=True
    ).stdout
    answer = httpx.post(daemon.url + "/v1/tsa", content=query, headers={"Content-Type": "application/timestamp-query"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/timestamp-reply"
    (tmp_path / "reply.tsr").write_bytes(answer.content)
    checked = subprocess.run(
        ["openssl", "ts", "-verify", "-data", str(data), "-in", str(tmp_path / "reply.tsr"), *anchors(trust)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0 and "Verification: OK" in checked.stdout, checked.stderr

    # The token: nonce echoed, our policy, an accuracy, ESSCertIDv2, the TSA's certificate with a
    # critical extendedKeyUsage of timeStamping alone.
    request = tsp.TimeStampReq.load(query)
    token = tsp.TimeStampResp.load(answer.content)["time_stamp_token"]
    info = token["content"]["encap_content_info"]["content"].parsed
    assert info["nonce"].native == request["nonce"].native
    assert info["policy"].dotted == TSA_POLICY
    assert info["accuracy"]["seconds"].native == 1
    attributes = {a["type"].native for a in token["content"]["signer_infos"][0]["signed_attrs"]}
    assert "signing_certificate_v2" in attributes
    sid = token["content"]["signer_infos"][0]["sid"].chosen
    tsa_cert = next(
        c.chosen for c in token["content"]["certificates"] if c.chosen.serial_number == sid["serial_number"].native
    )
    eku = next(e for e in tsa_cert["tbs_certificate"]["extensions"] if e["extn_id"].native == "extended_key_usage")
    assert eku["critical"].native is True and eku["extn_value"].native == ["time_stamping"]
    # It says where its status is, and the responder there answers for it (openssl's OCSP client).
    assert tsa_cert.crl_distribution_points and tsa_cert.ocsp_urls == [daemon.url + "/v1/ocsp"]
    (tmp_path / "tsa.pem").write_bytes(pem.armor("CERTIFICATE", tsa_cert.dump()))
    status = subprocess.run(
        ["openssl", "ocsp", "-issuer", str(trust["chain"]), "-cert", str(tmp_path / "tsa.pem"),
         "-url", tsa_cert.ocsp_urls[0], "-CAfile", str(trust["chain"])],
        capture_output=True, text=True,
    )  # fmt: skip
    assert status.returncode == 0 and "Response verify OK" in status.stderr, status.stdout + status.stderr
    assert f"{tmp_path / 'tsa.pem'}: good" in status.stdout, status.stdout

    # Without certReq the token carries no certificates; serials differ from token to token.
    bare = subprocess.run(
        ["openssl", "ts", "-query", "-data", str(data), "-sha256"], capture_output=True, check=True
    ).stdout
    second = httpx.post(daemon.url + "/v1/tsa", content=bare, headers={"Content-Type": "application/timestamp-query"})
    second_token = tsp.TimeStampResp.load(second.content)["time_stamp_token"]
    assert not second_token["content"]["certificates"]
    second_info = second_token["content"]["encap_content_info"]["content"].parsed
    assert second_info["serial_number"].native != info["serial_number"].native

    # pyHanko's HTTP client gets a token it accepts.
    stamper = HTTPTimeStamper(daemon.url + "/v1/tsa")
    digest = hashlib.sha256(b"pyhanko").digest()
    stamped = asyncio.run(stamper.async_timestamp(digest, "sha256"))
    assert stamped["content"]["encap_content_info"]["content"].parsed["message_imprint"]["hashed_message"].native == (
        digest
    )


def test_tsa_refuses_bad_requests_with_reasons(daemon: Daemon, tmp_path: Path) -> None:
    post = httpx.Client(base_url=daemon.url)
    wrong_type = post.post("/v1/tsa", content=b"\x30\x00", headers={"Content-Type": "application/octet-stream"})
    assert wrong_type.status_code == 415 and wrong_type.json()["error"] == "unsupportedMediaType"
    garbage = post.post("/v1/tsa", content=b"not der", headers={"Content-Type": "application/timestamp-query"})
    assert garbage.status_code == 400
    (tmp_path / "garbage.tsr").write_bytes(garbage.content)
    text = subprocess.run(
        ["openssl", "ts", "-reply", "-in", str(tmp_path / "garbage.tsr"), "-text"], capture_output=True, text=True
    ).stdout
    assert "Rejected" in text and "not a DER TimeStampReq" in text, text
    (tmp_path / "f").write_bytes(b"x")
    sha1 = subprocess.run(
        ["openssl", "ts", "-query", "-data", str(tmp_path / "f"), "-sha1"], capture_output=True, check=True
    ).stdout
    refused = post.post("/v1/tsa", content=sha1, headers={"Content-Type": "application/timestamp-query"})
    assert refused.status_code == 400
    (tmp_path / "sha1.tsr").write_bytes(refused.content)
    text = subprocess.run(
        ["openssl", "ts", "-reply", "-in", str(tmp_path / "sha1.tsr"), "-text"], capture_output=True, text=True
    ).stdout
    assert "unsupported hash algorithm sha1" in text, text
    other_policy = subprocess.run(
        ["openssl", "ts", "-query", "-data", str(tmp_path / "f"), "-sha256", "-tspolicy", "1.2.3.4"],
        capture_output=True,
        check=True,
    ).stdout
    refused = post.post("/v1/tsa", content=other_policy, headers={"Content-Type": "application/timestamp-query"})
    assert refused.status_code == 400
    too_big = post.post("/v1/tsa", content=bytes(8192), headers={"Content-Type": "application/timestamp-query"})
    assert too_big.status_code == 413
    post.close()


def test_verify_bad_input_is_one_line_and_exit_2(daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_bytes(b"hello")
    (tmp_path / "bad.p7s").write_bytes(b"\x30\x03\x02\x01\x01")
    cases = [
        [str(tmp_path / "missing.pdf")],
        [str(tmp_path / "x.txt")],
        [str(tmp_path / "bad.p7s"), "--content", str(tmp_path / "x.txt")],
        [str(tmp_path / "x.txt"), "--content", str(tmp_path / "x.txt"), "--at", "next year"],
    ]
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(agreement_pdf("Avtale", "Kari", pages=1))
    cases.append([str(plain)])
    for args in cases:
        result = daemon.run("tillit-signer", "verify", *args, check=False)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr


def test_verify_explains_a_date_before_a_chain_given_as_root_and_a_missing_root(
    daemon: Daemon, trust: dict[str, Path], tmp_path: Path
) -> None:
    _, pdf, _ = sign_pdf_and_text(daemon, tmp_path / "signed")

    def refused(*args: str, **env: str) -> str:
        result = subprocess.run(
            [tool("tillit-signer"), "verify", *args],
            capture_output=True,
            text=True,
            env={**daemon.env, **env},
            timeout=120,
        )
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("tillit-signer: "), result.stderr
        assert "Error)" not in lines[0] and "Traceback" not in result.stderr, lines[0]
        return lines[0]

    assert "before the trust anchor" in refused(str(pdf), "--at", "1990-01-01")
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.4 not really\n")
    assert refused(str(garbage)).endswith("not a readable PDF")
    # A signed PDF damaged inside (a newcomer probe: a stream's end marker lost): "internal error:
    # PdfReadError" from verify. Now it says the PDF cannot be read, with the code for that.
    data = pdf.read_bytes()
    damaged = tmp_path / "damaged.pdf"
    cut = data.index(b"endstream", 1500)
    damaged.write_bytes(data[:cut] + b"endstrXam" + data[cut + 9 :])
    assert "not a readable PDF" in refused(str(damaged))
    assert "not a certificate" in refused(str(pdf), "--root", str(garbage))
    # No home to take the CA's root from: the administrator is told to give one.
    assert "give --root" in refused(str(pdf), TILLIT_HOME=str(tmp_path / "no-home"))
    # The whole chain as --root: its self-signed root is the anchor.
    code, verdicts, stderr = verify(daemon, str(pdf), "--root", str(trust["chain"]))
    assert code == 0 and [v["indication"] for v in verdicts] == ["PASSED"], (verdicts, stderr)


def test_a_renewed_ca_carries_signatures_past_its_first_end(tmp_path: Path) -> None:
    """Signatures live past the CA's first ten years: `tillit-hsm ca renew` certifies the same keys
    again, an archive timestamp then reaches the new end, and pyHanko's LTA validation a year after
    the first end passes, where without the renewal it fails. The renewed root alone anchors
    everything made since `ca init` (it keeps the first one's start); pyHanko accepts the first root
    too, openssl does not once the first root has ended: relying parties replace it."""
    d = make_daemon(tmp_path / "home")
    d.start()
    try:
        _, pdf, p7s = sign_pdf_and_text(d, tmp_path / "signed")
        first_root = x509.Certificate.load(httpx.get(d.url + "/v1/ca/root.cer").content)
        first_issuing = x509.Certificate.load(httpx.get(d.url + "/v1/ca/issuing.cer").content)
        past_first_end = first_root.not_valid_after.replace(microsecond=0) + timedelta(days=365)
        # The archive keeps renewing, so the issuing CA of the newest timestamp is taken as not
        # revoked then, as the TSA's certificate is; without a renewal even that does not pass.
        failed = lta_validation(pdf, first_root, past_first_end, (first_issuing,))
        assert failed.ades_subindic != AdESPassed.OK, "the check cannot tell a renewal from none"

        shown = d.run("tillit-hsm", "ca", "show").stdout
        # Bad input, and a ledger that does not take the new certificates (its database locked by
        # another writer past its 10 s wait): one line each, and the CA as it was.
        for years in ("0", "31", "ten", ""):
            refused = d.run("tillit-hsm", "ca", "renew", "--years", years, check=False)
            assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
            assert "--years must be" in refused.stderr, refused.stderr
        with sqlite3.connect(d.home / "ca.db", isolation_level=None) as other_writer:
            other_writer.execute("BEGIN EXCLUSIVE")
            refused = d.run("tillit-hsm", "ca", "renew", "--years", "25", check=False)
            other_writer.execute("ROLLBACK")
        assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert "nothing was renewed" in refused.stderr and "Traceback" not in refused.stderr, refused.stderr
        assert d.run("tillit-hsm", "ca", "show").stdout == shown

        renewed = d.run("tillit-hsm", "ca", "renew", "--years", "25").stdout
        for name in ("Root CA", "Issuing CA", "Timestamp Authority"):
            assert f"{name} until 205" in renewed, renewed
        assert "OCSP responder until 20" in renewed, renewed  # short-lived, renewed by the daemon
        assert "restart" in renewed, renewed
        d.stop()
        d.start()
        new_root = x509.Certificate.load(httpx.get(d.url + "/v1/ca/root.cer").content)
        new_issuing = x509.Certificate.load(httpx.get(d.url + "/v1/ca/issuing.cer").content)
        assert new_root.not_valid_after > past_first_end + timedelta(days=365 * 10)
        assert new_root.public_key.dump() == first_root.public_key.dump()
        assert new_root.subject == first_root.subject and new_root.serial_number != first_root.serial_number
        assert new_root.not_valid_before == first_root.not_valid_before

        d.run("tillit-signer", "archive-timestamp", str(pdf))
        for anchor in (new_root, first_root):
            result = lta_validation(pdf, anchor, past_first_end, (new_issuing,))
            assert result.ades_subindic == AdESPassed.OK, (result.ades_subindic, result.failure_msg)
        code, verdicts, stderr = verify(d, str(pdf), "--at", f"{past_first_end:%Y-%m-%d}")
        assert code == 0 and [v["indication"] for v in verdicts] == ["PASSED"], (verdicts, stderr)
        # A .p7s keeps the TSA certificate it was stamped under, and is told so past its end.
        content = tmp_path / "signed" / "plan.txt"
        code, verdicts, _ = verify(d, str(p7s), "--content", str(content), "--at", f"{past_first_end:%Y-%m-%d}")
        ended = re.search(r"timestamp authority ended (\d{4}-\d\d-\d\d)", verdicts[0]["reason"])
        assert code == 1 and ended, verdicts
        assert ended.group(1) < f"{first_root.not_valid_after:%Y-%m-%d}", verdicts  # the first TSA certificate's end
        assert "a .p7s cannot be renewed" in verdicts[0]["reason"], verdicts
        # The renewed certificates are clean RFC 5280 (an end from 2050 on is a GeneralizedTime), and
        # the customer's certificate from before the renewal verifies under them with every CRL.
        tsa = PdfFileReader(io.BytesIO(pdf.read_bytes()), strict=False).embedded_timestamp_signatures[-1].signer_cert
        names = ("root", "first-root", "issuing", "first-issuing", "tsa", "customer", "root.crl", "issuing.crl")
        files = {name: tmp_path / f"{name}.pem" for name in names}
        customer = PdfFileReader(io.BytesIO(pdf.read_bytes()), strict=False).embedded_regular_signatures[0].signer_cert
        for name, cert in (
            ("root", new_root),
            ("first-root", first_root),
            ("issuing", new_issuing),
            ("first-issuing", first_issuing),
            ("tsa", tsa),
            ("customer", customer),
        ):
            files[name].write_bytes(pem.armor("CERTIFICATE", cert.dump()))
        for name in ("root", "issuing", "tsa"):
            assert pkilint_findings("lint_pkix_cert", files[name]) == [], name
        assert tsa.not_valid_after > past_first_end
        files["root.crl"].write_bytes(pem.armor("X509 CRL", httpx.get(d.url + "/v1/crl/root").content))
        files["issuing.crl"].write_bytes(pem.armor("X509 CRL", httpx.get(d.url + "/v1/crl").content))

        def openssl_verify(anchor: str, untrusted: str, target: str, *at: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["openssl", "verify", "-x509_strict", *at, "-CAfile", str(files[anchor]),
                 "-untrusted", str(files[untrusted]), str(files[target])],
                capture_output=True, text=True,
            )  # fmt: skip

        checked = subprocess.run(
            ["openssl", "verify", "-x509_strict", "-crl_check_all", "-CAfile", str(files["root"]),
             "-untrusted", str(files["issuing"]), "-CRLfile", str(files["root.crl"]),
             "-CRLfile", str(files["issuing.crl"]), str(files["customer"])],
            capture_output=True, text=True,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stdout + checked.stderr
        # A year past the first end, the new TSA certificate verifies under the renewed root; under
        # the first, ended, root openssl refuses it (it checks the anchor's dates: replace it).
        later = ("-attime", str(int(past_first_end.timestamp())))
        assert openssl_verify("root", "issuing", "tsa", *later).returncode == 0
        ended = openssl_verify("first-root", "issuing", "tsa", *later)
        assert ended.returncode != 0 and "certificate has expired" in ended.stderr, ended.stdout + ended.stderr
        # The renewed root covers the time since `ca init`: the first issuing CA verifies under it
        # in the first second of its life, before the renewal.
        first_second = ("-attime", str(int(first_issuing.not_valid_before.timestamp()) + 1))
        checked = openssl_verify("root", "first-issuing", "first-issuing", *first_second)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        _, second, _ = sign_pdf_and_text(d, tmp_path / "second")
        assert lta_validation(second, first_root, IN_2031).ades_subindic == AdESPassed.OK

        # Asking for no more than the CA already has changes nothing, in one line.
        again = d.run("tillit-hsm", "ca", "renew", "--years", "5", check=False)
        assert again.returncode != 0 and len(again.stderr.strip().splitlines()) == 1, again.stderr
        assert "already lasts until" in again.stderr
        assert httpx.get(d.url + "/v1/ca/root.cer").content == new_root.dump()
    finally:
        d.stop()


def tsa_certificate_now(d: Daemon, tmp_path: Path) -> x509.Certificate:
    """The certificate of a token the daemon's TSA grants now (asked for with certReq)."""
    (tmp_path / "f").write_bytes(b"which key?\n")
    query = subprocess.run(
        ["openssl", "ts", "-query", "-data", str(tmp_path / "f"), "-sha256", "-cert"], capture_output=True, check=True
    ).stdout
    answer = httpx.post(d.url + "/v1/tsa", content=query, headers={"Content-Type": "application/timestamp-query"})
    token = tsp.TimeStampResp.load(answer.content)["time_stamp_token"]
    sid = token["content"]["signer_infos"][0]["sid"].chosen
    return next(
        c.chosen for c in token["content"]["certificates"] if c.chosen.serial_number == sid["serial_number"].native
    )


def test_the_tsa_rekeyed_stamps_with_its_new_key_and_what_the_old_one_stamped_stays_valid(tmp_path: Path) -> None:
    d = make_daemon(tmp_path / "home")
    d.start()
    try:
        _, pdf, p7s = sign_pdf_and_text(d, tmp_path / "signed")
        first = tsa_certificate_now(d, tmp_path)
        for years in ("0", "31", "three"):
            refused = d.run("tillit-hsm", "ca", "rekey-tsa", "--years", years, check=False)
            assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        done = d.run("tillit-hsm", "ca", "rekey-tsa", "--years", "3").stdout
        assert done.startswith("TSA re-keyed: key tillit-tsa-2, certificate until ") and "restart" in done, done
        # A running signer goes on with the key it started with; after a restart, the new one.
        assert tsa_certificate_now(d, tmp_path).dump() == first.dump()
        d.stop()
        d.start()
        second = tsa_certificate_now(d, tmp_path)
        assert second.public_key.dump() != first.public_key.dump()
        assert second.subject == first.subject and second.not_valid_after < first.not_valid_after
        assert (second.not_valid_after - datetime.now(UTC)).days in range(365 * 3 - 5, 365 * 3)
        status = {r["role"]: r for r in json.loads(d.run("tillit-hsm", "ca", "status", "--json").stdout)}
        assert status["tsa"]["serial"] == f"{second.serial_number:x}"

        # What the first key stamped stays valid; a renewal stamps with the second.
        code, verdicts, stderr = verify(d, str(p7s), "--content", str(tmp_path / "signed" / "plan.txt"))
        assert code == 0 and [v["indication"] for v in verdicts] == ["PASSED"], (verdicts, stderr)
        d.run("tillit-signer", "archive-timestamp", str(pdf))
        stamps = PdfFileReader(io.BytesIO(pdf.read_bytes()), strict=False).embedded_timestamp_signatures
        assert stamps[0].signer_cert.dump() == first.dump() and stamps[-1].signer_cert.dump() == second.dump()
        root = x509.Certificate.load(httpx.get(d.url + "/v1/ca/root.cer").content)
        result = lta_validation(pdf, root, IN_2031)
        assert result.ades_subindic == AdESPassed.OK, (result.ades_subindic, result.failure_msg)

        # The new key is Tillit's: not destroyed by hand; the next re-keying makes tillit-tsa-3.
        kept = d.run("tillit-hsm", "keys", "destroy", "tillit-tsa-2", "--yes", check=False)
        assert kept.returncode != 0 and "Tillit depends on it" in kept.stderr, kept.stderr
        assert "key tillit-tsa-3," in d.run("tillit-hsm", "ca", "rekey-tsa", "--years", "2").stdout
    finally:
        d.stop()

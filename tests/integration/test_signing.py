"""Sign orders end to end on the real daemon; outputs checked with pdfsig and openssl."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.daemon import PASSWORD, Daemon, make_daemon
from tests.factories import fresh_adult
from tillit.phone.client import PhoneClient, PhoneError
from tillit.signer.sample_documents import agreement_pdf
from tillit.signer.wire import AppRequest

pytestmark = pytest.mark.integration

ATTACHMENT = b"Vedlegg: prisliste 2026\nRente 4,9 %\n"


@pytest.fixture
def customer(daemon: Daemon) -> Iterator[tuple[str, PhoneClient]]:
    number = fresh_adult()
    daemon.enrol(number, "Ola Nordmann")
    phone = daemon.add_device(number)
    yield number, phone
    phone.close()


@pytest.fixture(scope="module")
def trust(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The CA chain as files, and an NSS database that trusts the root (for pdfsig)."""
    folder = tmp_path_factory.mktemp("trust")
    chain = httpx.get(daemon.url + "/v1/ca").text
    pems = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n", chain, re.S)
    issuing, root = folder / "issuing.pem", folder / "root.pem"
    issuing.write_text(pems[0])
    root.write_text(pems[1])
    (folder / "chain.pem").write_text(chain)
    nss = folder / "nss"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{nss}", "-n", "tillit-root", "-t", "CT,C,C", "-i", str(root)], check=True
    )
    return {"issuing": issuing, "root": root, "chain": folder / "chain.pem", "nss": nss, "dir": folder}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def start_sign(k: httpx.Client, number: str, documents: list[tuple[str, str, bytes]]) -> dict[str, str]:
    response = k.post(
        "/v1/sign",
        json={
            "personalNumber": number,
            "userVisibleData": "Eg signerer lånavtalen",
            "documents": [{"name": n, "contentType": t, "content": b64(c)} for n, t, c in documents],
        },
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def approve_next(phone: PhoneClient) -> AppRequest:
    request = phone.requests(wait=5).requests[0]
    phone.decide(request, "approve")
    return request


def hsm_signatures(daemon: Daemon) -> int:
    text = httpx.get(daemon.url + "/metrics").text
    return int(float(re.search(r"^tillit_hsm_signatures_total ([0-9.]+)$", text, re.M).group(1)))  # type: ignore[union-attr]


def audit_count(daemon: Daemon, event: str, subject: str) -> int:
    with sqlite3.connect(daemon.home / "signer.db") as db:
        return int(db.execute("SELECT COUNT(*) FROM audit WHERE event=? AND subject=?", (event, subject)).fetchone()[0])


def test_pdf_and_attachment_are_signed_and_validate(
    daemon: Daemon, customer: tuple[str, PhoneClient], trust: dict[str, Path], tmp_path: Path
) -> None:
    number, phone = customer
    pdf = agreement_pdf("Lånavtale", "Ola Nordmann", pages=4)
    with daemon.kiosk() as k:
        order = start_sign(
            k, number, [("laan.pdf", "application/pdf", pdf), ("prisliste.txt", "text/plain", ATTACHMENT)]
        )
        request = approve_next(phone)
        assert [d["name"] for d in request.documents] == ["laan.pdf", "prisliste.txt"]
        done = k.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD}).json()
        assert done["status"] == "complete", done
        assert "fetching is not allowed" not in daemon.log.read_text()  # pyHanko's noise, filtered
        assert [s["format"] for s in done["completionData"]["signatures"]] == ["pades", "cms"]
        signed_pdf = k.get(f"/v1/orders/{order['orderRef']}/documents/0")
        cms = k.get(f"/v1/orders/{order['orderRef']}/documents/1")
    assert signed_pdf.headers["content-type"] == "application/pdf"
    (tmp_path / "signed.pdf").write_bytes(signed_pdf.content)
    (tmp_path / "prisliste.txt").write_bytes(ATTACHMENT)
    (tmp_path / "prisliste.p7s").write_bytes(cms.content)

    report = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{trust['nss']}", str(tmp_path / "signed.pdf")], capture_output=True, text=True
    ).stdout
    assert "Signature is Valid." in report, report
    assert "Certificate is Trusted." in report, report
    assert "Ola Nordmann" in report
    # B-LTA: the document timestamp after the signature (and its DSS) is what covers the whole file.
    assert "Total document signed" in report.split("Signature #")[-1], report

    verified = subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(tmp_path / "prisliste.p7s"),
            "-content",
            str(tmp_path / "prisliste.txt"),
            "-CAfile",
            str(trust["chain"]),
            "-out",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stderr
    (tmp_path / "tampered.txt").write_bytes(ATTACHMENT + b"x")
    tampered = subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(tmp_path / "prisliste.p7s"),
            "-content",
            str(tmp_path / "tampered.txt"),
            "-CAfile",
            str(trust["chain"]),
            "-out",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
    )
    assert tampered.returncode != 0

    receipt = json.loads(daemon.run("tillit-signer", "receipts", "show", order["orderRef"], "--json").stdout)
    assert receipt["userVisibleData"] == "Eg signerer lånavtalen"
    assert [d["sha256"] for d in receipt["documents"]] == [d["sha256"] for d in request.documents]
    assert receipt["certificateSerial"]
    assert receipt["kiosk"]["name"] == "Bergen sentrum"


def _ocsp_status(daemon: Daemon, trust: dict[str, Path], cert: Path) -> str:
    result = subprocess.run(
        [
            "openssl",
            "ocsp",
            "-issuer",
            str(trust["issuing"]),
            "-cert",
            str(cert),
            "-url",
            daemon.url + "/v1/ocsp",
            "-CAfile",
            str(trust["chain"]),
        ],
        capture_output=True,
        text=True,
    )
    assert "Response verify OK" in result.stderr + result.stdout, result.stderr
    return result.stdout


def test_ocsp_good_then_revoked_and_crl_lists_it(
    daemon: Daemon, customer: tuple[str, PhoneClient], trust: dict[str, Path], tmp_path: Path
) -> None:
    number, phone = customer
    with daemon.kiosk() as k:
        order = start_sign(k, number, [("a.txt", "text/plain", b"avtale")])
        approve_next(phone)
        k.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD})
        cms = k.get(f"/v1/orders/{order['orderRef']}/documents/0").content
    (tmp_path / "s.p7s").write_bytes(cms)
    certs = subprocess.run(
        ["openssl", "pkcs7", "-inform", "DER", "-in", str(tmp_path / "s.p7s"), "-print_certs"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    customer_pem = next(
        p for p in re.findall(r"subject=.+?-----END CERTIFICATE-----\n", certs, re.S) if "Ola Nordmann" in p
    )
    cert = tmp_path / "customer.pem"
    cert.write_text(customer_pem[customer_pem.index("-----BEGIN") :])

    assert ": good" in _ocsp_status(daemon, trust, cert)
    before = hsm_signatures(daemon)
    first, again = (httpx.get(daemon.url + "/v1/crl").content for _ in range(2))
    assert first == again and hsm_signatures(daemon) <= before + 1, "every CRL fetch made the HSM sign"
    daemon.run("tillit-signer", "customers", "revoke-certificate", number, "--reason", "key_compromise")
    assert ": revoked" in _ocsp_status(daemon, trust, cert)

    (tmp_path / "crl.der").write_bytes(httpx.get(daemon.url + "/v1/crl").content)
    crl = subprocess.run(
        [
            "openssl",
            "crl",
            "-inform",
            "DER",
            "-in",
            str(tmp_path / "crl.der"),
            "-CAfile",
            str(trust["chain"]),
            "-noout",
            "-verify",
            "-text",
        ],
        capture_output=True,
        text=True,
    )
    assert "verify OK" in crl.stderr + crl.stdout
    serial = (
        subprocess.run(
            ["openssl", "x509", "-in", str(cert), "-noout", "-serial"], capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .split("=")[1]
    )
    assert serial.upper().lstrip("0") in crl.stdout.replace(":", "").upper()


def test_document_changed_in_storage_never_reaches_the_hsm(daemon: Daemon, customer: tuple[str, PhoneClient]) -> None:
    number, phone = customer
    with daemon.kiosk() as k:
        order = start_sign(k, number, [("a.txt", "text/plain", b"original terms")])
        approve_next(phone)
        with sqlite3.connect(daemon.home / "signer.db") as db:
            db.execute("UPDATE documents SET content=? WHERE order_ref=?", (b"worse terms", order["orderRef"]))
        before = hsm_signatures(daemon)
        result = k.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD}).json()
        assert (result["status"], result["hintCode"]) == ("failed", "signingFailed")
        assert hsm_signatures(daemon) == before
        assert k.get(f"/v1/orders/{order['orderRef']}/documents/0").status_code == 409
    assert audit_count(daemon, "signature.refused", order["orderRef"]) == 1
    assert audit_count(daemon, "signature.created", order["orderRef"]) == 0
    # The operator sees why in the log, not only in the audit.
    assert f"order {order['orderRef']} not signed (signingFailed): document 0 changed" in daemon.log.read_text()


def test_document_and_its_stored_digest_both_changed_never_reach_the_hsm(
    daemon: Daemon, customer: tuple[str, PhoneClient]
) -> None:
    """Whoever can write the store changes the bytes and the digest column to match: the phone's
    approval, checked again over the bytes right before signing, no longer verifies."""
    number, phone = customer
    worse = b"worse terms"
    with daemon.kiosk() as k:
        order = start_sign(k, number, [("a.txt", "text/plain", b"original terms")])
        approve_next(phone)
        with sqlite3.connect(daemon.home / "signer.db") as db:
            db.execute(
                "UPDATE documents SET content=?, sha256=? WHERE order_ref=?",
                (worse, hashlib.sha256(worse).hexdigest(), order["orderRef"]),
            )
        before = hsm_signatures(daemon)
        result = k.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD}).json()
        assert (result["status"], result["hintCode"]) == ("failed", "signingFailed")
        assert hsm_signatures(daemon) == before
    assert audit_count(daemon, "signature.refused", order["orderRef"]) == 1
    assert audit_count(daemon, "signature.created", order["orderRef"]) == 0


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon whose orders live 2 s."""
    d = make_daemon(tmp_path_factory.mktemp("ttl") / "home", TILLIT_ORDER_TTL_SECONDS="2")
    d.start()
    yield d
    d.stop()


@pytest.mark.parametrize("approved", [False, True], ids=["unanswered", "approved"])
def test_an_expired_sign_order_never_signs(short_lived: Daemon, approved: bool) -> None:
    d = short_lived
    number = fresh_adult()
    d.enrol(number, "Ola Nordmann")
    phone = d.add_device(number)
    try:
        with d.kiosk() as k:
            order = start_sign(k, number, [("a.txt", "text/plain", b"x")])
            request = phone.requests(wait=5).requests[0]
            if approved:
                phone.decide(request, "approve")
            time.sleep(2.3)
            before = hsm_signatures(d)
            result = k.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD})
            assert result.status_code in (200, 409), result.text
            state = k.post("/v1/collect", json={"orderRef": order["orderRef"]}).json()
            assert (state["status"], state["hintCode"]) == ("failed", "expiredTransaction")
            if not approved:  # a late approval changes nothing either
                with pytest.raises(PhoneError) as late:
                    phone.decide(request, "approve")
                assert late.value.status == 410
            assert hsm_signatures(d) == before
    finally:
        phone.close()
    assert audit_count(d, "signature.created", order["orderRef"]) == 0


def test_approval_over_other_digests_is_refused(daemon: Daemon, customer: tuple[str, PhoneClient]) -> None:
    number, phone = customer
    with daemon.kiosk() as k:
        order = start_sign(k, number, [("a.txt", "text/plain", b"the real document")])
        request = phone.requests(wait=5).requests[0]
        forged = request.model_copy(deep=True)
        forged.challenge["documents"][0]["sha256"] = "00" * 32
        before = hsm_signatures(daemon)
        with pytest.raises(Exception, match="does not match"):
            phone.decide(forged, "approve")
        state = k.post("/v1/collect", json={"orderRef": order["orderRef"]}).json()
        assert state["hintCode"] == "outstandingTransaction"
        refused = k.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD})
        assert refused.status_code == 409
        assert hsm_signatures(daemon) == before


@pytest.mark.parametrize("ending", ["decline", "cancel"])
def test_ended_orders_never_sign(daemon: Daemon, customer: tuple[str, PhoneClient], ending: str) -> None:
    number, phone = customer
    with daemon.kiosk() as k:
        order = start_sign(k, number, [("a.txt", "text/plain", b"x")])
        request = phone.requests(wait=5).requests[0]
        if ending == "decline":
            phone.decide(request, "decline")
        else:
            k.post("/v1/cancel", json={"orderRef": order["orderRef"]})
        before = hsm_signatures(daemon)
        result = k.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD})
        assert result.status_code in (200, 409)
        assert k.post("/v1/collect", json={"orderRef": order["orderRef"]}).json()["status"] == "failed"
        assert hsm_signatures(daemon) == before
    assert audit_count(daemon, "signature.created", order["orderRef"]) == 0


def test_one_approval_signs_once_under_50_concurrent_passwords(
    daemon: Daemon, customer: tuple[str, PhoneClient]
) -> None:
    number, phone = customer
    with daemon.kiosk() as k:
        order = start_sign(k, number, [("a.txt", "text/plain", b"one"), ("b.txt", "text/plain", b"two")])
        approve_next(phone)

        def post(_: int) -> int:
            return k.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD}).status_code

        with ThreadPoolExecutor(50) as pool:
            statuses = list(pool.map(post, range(50)))
        assert set(statuses) <= {200, 409}
        assert k.post("/v1/collect", json={"orderRef": order["orderRef"]}).json()["status"] == "complete"
    assert audit_count(daemon, "signature.created", order["orderRef"]) == 2
    assert audit_count(daemon, "order.completed", order["orderRef"]) == 1


@pytest.mark.parametrize(
    "content",
    [
        b"%PDF-1.7\n garbage",
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF",
    ],
)
def test_hostile_pdfs_get_a_4xx(daemon: Daemon, customer: tuple[str, PhoneClient], content: bytes) -> None:
    number, _ = customer
    with daemon.kiosk() as k:
        response = k.post(
            "/v1/sign",
            json={
                "personalNumber": number,
                "userVisibleData": "x",
                "documents": [{"name": "bad.pdf", "contentType": "application/pdf", "content": b64(content)}],
            },
        )
    assert response.status_code == 400
    assert "PDF" in response.json()["reason"]


def _shown(daemon: Daemon, number: str) -> dict[str, Any]:
    return dict(json.loads(daemon.run("tillit-signer", "customers", "show", number, "--json").stdout))


def _signed_cms_certificate(k: httpx.Client, phone: PhoneClient, number: str, tmp_path: Path) -> str:
    """Sign a small file and return the customer's certificate (PEM) from the detached CMS."""
    order = start_sign(k, number, [("a.txt", "text/plain", b"avtale")])
    approve_next(phone)
    done = k.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD}).json()
    assert done["status"] == "complete", done
    (tmp_path / "s.p7s").write_bytes(k.get(f"/v1/orders/{order['orderRef']}/documents/0").content)
    certs = subprocess.run(
        ["openssl", "pkcs7", "-inform", "DER", "-in", str(tmp_path / "s.p7s"), "-print_certs"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pem = next(p for p in re.findall(r"subject=.+?-----END CERTIFICATE-----\n", certs, re.S) if "Ola Nordmann" in p)
    return pem[pem.index("-----BEGIN") :]


def test_the_customer_certificate_names_no_personal_number_and_says_where_to_check(
    daemon: Daemon, customer: tuple[str, PhoneClient], tmp_path: Path
) -> None:
    number, phone = customer
    with daemon.kiosk() as k:
        (tmp_path / "c.pem").write_text(_signed_cms_certificate(k, phone, number, tmp_path))
    x509_text = ["openssl", "x509", "-in", str(tmp_path / "c.pem"), "-noout", "-text"]
    text = subprocess.run(x509_text, capture_output=True, text=True, check=True).stdout
    assert number not in text
    assert re.search(r"Subject:.*CN ?= ?Ola Nordmann", text), text
    assert re.search(r"serialNumber ?= ?UN:NO-TILLIT-[0-9a-f-]{36}", text), text
    assert re.search(r"Key Usage: critical\s+Non Repudiation\n", text), text
    assert f"URI:{daemon.url}/v1/crl" in text
    assert f"OCSP - URI:{daemon.url}/v1/ocsp" in text


def test_a_revoked_certificate_signs_nothing_until_a_new_one_is_issued(
    daemon: Daemon, customer: tuple[str, PhoneClient], trust: dict[str, Path], tmp_path: Path
) -> None:
    number, phone = customer
    old_serial = _shown(daemon, number)["certificateSerial"]
    refused = daemon.run("tillit-signer", "customers", "reissue-certificate", number, check=False)
    assert refused.returncode != 0 and "still valid" in refused.stderr and "Traceback" not in refused.stderr
    with daemon.kiosk() as k:
        # Revoked while an order is open (approved, the password not yet given): the last check
        # before the HSM refuses it. A new sign order is refused up front (tests/integration/test_customer_admin.py).
        order = start_sign(k, number, [("a.txt", "text/plain", b"avtale")])
        approve_next(phone)
        daemon.run("tillit-signer", "customers", "revoke-certificate", number, "--reason", "key_compromise")
        before = hsm_signatures(daemon)
        result = k.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD}).json()
        assert (result["status"], result["hintCode"]) == ("failed", "signingFailed")
        assert hsm_signatures(daemon) == before, "the HSM signed with a revoked certificate's key"

        daemon.run("tillit-signer", "customers", "reissue-certificate", number)
        new_serial = _shown(daemon, number)["certificateSerial"]
        assert new_serial and new_serial != old_serial
        cert = tmp_path / "new.pem"
        cert.write_text(_signed_cms_certificate(k, phone, number, tmp_path))
    assert ": good" in _ocsp_status(daemon, trust, cert)
    shown = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-serial"], capture_output=True, text=True)
    assert shown.stdout.strip().split("=")[1].lower().lstrip("0") == new_serial.lstrip("0")
    assert audit_count(daemon, "certificate.reissued", _shown(daemon, number)["id"]) == 1


def _pdf_with_an_empty_signature_field(name: str) -> bytes:
    """A bank's agreement that comes with its own (empty) signature field, added with pyHanko."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields

    writer = IncrementalPdfFileWriter(io.BytesIO(agreement_pdf("Kausjon", "Ola Nordmann", pages=2)))
    fields.append_signature_field(writer, fields.SigFieldSpec(sig_field_name=name, on_page=0, box=(60, 60, 330, 140)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pades_signs_the_documents_own_field_with_a_visible_stamp_and_cades_subfilter(
    daemon: Daemon, customer: tuple[str, PhoneClient], trust: dict[str, Path], tmp_path: Path
) -> None:
    number, phone = customer
    pdf = _pdf_with_an_empty_signature_field("KundensSignatur")
    with daemon.kiosk() as k:
        order = start_sign(k, number, [("kausjon.pdf", "application/pdf", pdf), ("vedlegg.txt", "text/plain", b"v")])
        approve_next(phone)
        done = k.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD}).json()
        assert done["status"] == "complete", done
        (tmp_path / "signed.pdf").write_bytes(k.get(f"/v1/orders/{order['orderRef']}/documents/0").content)
        (tmp_path / "v.p7s").write_bytes(k.get(f"/v1/orders/{order['orderRef']}/documents/1").content)
    report = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{trust['nss']}", str(tmp_path / "signed.pdf")], capture_output=True, text=True
    ).stdout
    # The document's own field, not a second one (the other is B-LTA's document timestamp).
    assert report.count("Signature Type: ETSI.CAdES.detached") == 1, report
    assert "Signature Field Name: KundensSignatur" in report, report
    assert "Signature Type: ETSI.CAdES.detached" in report, report
    assert "Signature is Valid." in report and "Certificate is Trusted." in report, report
    stamp = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", str(tmp_path / "signed.pdf"), "-"], capture_output=True, text=True
    ).stdout
    assert "Ola Nordmann" in stamp and order["reference"] in stamp and "Signert med Tillit BankID" in stamp, stamp
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", stamp), stamp
    printed = subprocess.run(
        ["openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", str(tmp_path / "v.p7s")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "signingTime" in printed and "id-smime-aa-signingCertificateV2" in printed, printed


def test_a_documents_name_is_sent_back_as_a_safe_download_name(
    daemon: Daemon, customer: tuple[str, PhoneClient]
) -> None:
    """The kiosk chooses a document's name, and the signed file is downloaded under it. Before, the
    name went into Content-Disposition quoted raw: a name outside Latin-1 made every download of the
    signed file a 500, and a quote or a semicolon in it named another file."""
    number, phone = customer
    names = ["Lånavtale 文件.txt", "a\";filename*=UTF-8''evil.exe", "plain.txt"]
    with daemon.kiosk() as k:
        order = start_sign(k, number, [(name, "text/plain", b"avtale") for name in names])
        approve_next(phone)
        done = k.post("/v1/password", json={"orderRef": order["orderRef"], "password": PASSWORD}).json()
        assert done["status"] == "complete", done
        dispositions = []
        for index in range(len(names)):
            response = k.get(f"/v1/orders/{order['orderRef']}/documents/{index}")
            assert response.status_code == 200, response.text
            dispositions.append(response.headers["content-disposition"])
    assert dispositions[0] == (
        "attachment; filename=\"L_navtale __.txt.p7s\"; filename*=UTF-8''L%C3%A5navtale%20%E6%96%87%E4%BB%B6.txt.p7s"
    )
    assert dispositions[1].startswith(
        "attachment; filename=\"a__filename*=UTF-8''evil.exe.p7s\"; filename*=UTF-8''a%22%3B"
    )
    assert dispositions[2] == 'attachment; filename="plain.txt.p7s"'


@pytest.mark.parametrize(
    "field,value,says",
    [
        ("userVisibleData", "Betal \u202e001 kr", "U+202E"),
        ("userVisibleData", "Betal 100 kr\x00", "U+0000"),
        ("name", "avtale\r\nX-Header: 1.txt", "U+000D"),
        ("name", "\u2066avtale.txt", "U+2066"),
    ],
)
def test_text_a_person_reads_has_no_hidden_characters(
    daemon: Daemon, customer: tuple[str, PhoneClient], field: str, value: str, says: str
) -> None:
    """What the phone shows is what is signed: text with a bidi override ("Betal 001 kr" shown for
    "Betal 100 kr") or control characters is refused before anything is stored or pushed."""
    number, phone = customer
    document = {"name": "avtale.txt", "contentType": "text/plain", "content": b64(b"avtale")}
    body: dict[str, Any] = {"personalNumber": number, "userVisibleData": "Eg signerer", "documents": [document]}
    if field == "name":
        document["name"] = value
    else:
        body[field] = value
    with daemon.kiosk() as k:
        response = k.post("/v1/sign", json=body)
    assert response.status_code == 400, response.text
    assert says in response.json()["reason"]
    assert phone.requests(wait=0).requests == []

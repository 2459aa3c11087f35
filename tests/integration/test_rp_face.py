"""The BankID RP API v6.0 face on the real daemon: /rp/v6.0/* over real TLS with client certificates
from `tillit-signer rps add`, the phone's side through its signed requests (scan, autostart,
approve, password), and the completion data checked with openssl (cms -verify, ocsp -respin).

pybankid itself against this face is tests/phone/ (the testers' kit); here the wire is spoken by
hand, as pybankid speaks it (base64 userVisibleData, `generate_qr_code_content`'s QR content)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.daemon import PASSWORD, Daemon, free_port, make_daemon
from tests.factories import fresh_adult, self_signed
from tillit.phone.client import PhoneClient, sign_bytes
from tillit.signer.wire import approval_message

pytestmark = pytest.mark.integration

RP_NAME = "Nettbanken AS"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def qr_content(token: str, secret: str, started: float, shift: int = 0) -> str:
    """As pybankid's `generate_qr_code_content` builds it (plus `shift` seconds, to forge an age)."""
    seconds = math.floor(time.time() - started) + shift
    code = hmac.new(secret.encode(), str(seconds).encode(), hashlib.sha256).hexdigest()
    return f"bankid.{token}.{seconds}.{code}"


RP_BODY_SECONDS = 2.0


def rp_client(port: int, folder: Path) -> httpx.Client:
    """An RP's client: the server checked against ca.pem, rp.crt and rp.key presented."""
    context = ssl.create_default_context(cafile=str(folder / "ca.pem"))
    context.load_cert_chain(str(folder / "rp.crt"), str(folder / "rp.key"))
    return httpx.Client(base_url=f"https://127.0.0.1:{port}/rp/v6.0/", verify=context, timeout=30)


@pytest.fixture(scope="module")
def rp_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, int, Path]]:
    """A daemon with the RP face on its own port, and one relying party's files."""
    home = tmp_path_factory.mktemp("rp") / "home"
    port = free_port()
    # Heads and bodies due within 2 s (the default is 10): the slow-request tests wait for that.
    daemon = make_daemon(
        home,
        TILLIT_RP_PORT=str(port),
        TILLIT_REQUEST_HEAD_SECONDS=str(RP_BODY_SECONDS),
        TILLIT_REQUEST_BODY_SECONDS=str(RP_BODY_SECONDS),
    )
    folder = home.parent / "rp"
    daemon.run("tillit-signer", "rps", "add", "--name", RP_NAME, "--out", str(folder))
    daemon.start()
    deadline = time.monotonic() + 20
    with rp_client(port, folder) as client:
        while True:  # the RP server starts beside the main one
            try:
                client.post("collect", json={"orderRef": "x"})
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    yield daemon, port, folder
    daemon.stop()


@pytest.fixture
def rp(rp_daemon: tuple[Daemon, int, Path]) -> Iterator[httpx.Client]:
    _, port, folder = rp_daemon
    with rp_client(port, folder) as client:
        yield client


def enrolled(daemon: Daemon) -> tuple[str, PhoneClient]:
    number = fresh_adult()
    daemon.enrol(number, "Kari Nordmann")
    return number, daemon.add_device(number)


class People:
    """Customers named Kari Nordmann, each with one phone, enrolled ahead a few at a time (each
    `tillit-signer` run costs most of a second); the phones closed at the end."""

    def __init__(self, daemon: Daemon, ahead: int) -> None:
        self.daemon = daemon
        with ThreadPoolExecutor(4) as pool:
            self.ready = list(pool.map(lambda _: enrolled(daemon), range(ahead)))
        self.handed_out: list[PhoneClient] = []

    def __call__(self) -> tuple[str, PhoneClient]:
        number, phone = self.ready.pop() if self.ready else enrolled(self.daemon)
        self.handed_out.append(phone)
        return number, phone

    def close(self) -> None:
        for phone in self.handed_out + [phone for _, phone in self.ready]:
            phone.close()


@pytest.fixture(scope="module")
def person(request: pytest.FixtureRequest, rp_daemon: tuple[Daemon, int, Path]) -> Iterator[People]:
    """One person for each selected test of this module that takes some, and one more for each of
    the three that take two; more are enrolled when needed."""
    tests = [item for item in request.session.items if item.module is request.module]
    wanted = sum(1 for item in tests if "person" in getattr(item, "fixturenames", ())) + 3
    people = People(rp_daemon[0], wanted)
    yield people
    people.close()


def approve(phone: PhoneClient, order_ref: str) -> dict[str, Any]:
    """The phone's pending request for the order, approved ("Ja, det er meg")."""
    found = phone.request("GET", "/v1/app/requests?wait=5").json()["requests"]
    request = next(r for r in found if r["orderRef"] == order_ref)
    signature = sign_bytes(phone.key, approval_message(request["challenge"], "approve"))
    answer = phone.request("POST", f"/v1/app/requests/{order_ref}", {"decision": "approve", "signature": signature})
    assert answer.status_code == 200, answer.text
    return dict(request)


def send_password(phone: PhoneClient, order_ref: str, password: str = PASSWORD) -> httpx.Response:
    return phone.request("POST", f"/v1/app/requests/{order_ref}/password", {"password": password})


def collect(rp: httpx.Client, order_ref: str) -> dict[str, Any]:
    answer = rp.post("collect", json={"orderRef": order_ref})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)


# -- the whole way, with and without a personal number ---------------------------------------------


def test_auth_with_a_number_completes_with_data_openssl_verifies(
    person: People, rp_daemon: tuple[Daemon, int, Path], rp: httpx.Client, tmp_path: Path
) -> None:
    _, _, folder = rp_daemon
    number, phone = person()
    started = rp.post("auth", json={"endUserIp": "192.0.2.7", "requirement": {"personalNumber": number}})
    assert started.status_code == 200, started.text
    order = started.json()
    assert set(order) == {"orderRef", "autoStartToken", "qrStartToken", "qrStartSecret"}
    ref = order["orderRef"]
    assert collect(rp, ref) == {"orderRef": ref, "status": "pending", "hintCode": "outstandingTransaction"}

    request = approve(phone, ref)
    assert request["kioskName"] == RP_NAME and request["passwordBy"] == "phone"
    assert request["userVisibleDataFormat"] == "plaintext"
    assert collect(rp, ref)["hintCode"] == "userSign"
    answer = send_password(phone, ref)
    assert answer.status_code == 200 and answer.json()["status"] == "complete", answer.text
    assert "completionData" not in answer.json()  # the phone gets no completion data

    done = collect(rp, ref)
    assert done["status"] == "complete" and "hintCode" not in done
    data = done["completionData"]
    assert data["user"] == {
        "personalNumber": number,
        "name": "Kari Nordmann",
        "givenName": "Kari",
        "surname": "Nordmann",
    }
    assert data["device"]["ipAddress"] == "192.0.2.7" and len(data["device"]["uhi"]) == 43
    assert data["stepUp"] == {"mrtd": False}
    assert collect(rp, ref) == done  # built once, the same bytes every time

    # The signature: CMS with the signed JSON inside, by the customer's certificate from the Tillit CA.
    (tmp_path / "signature.der").write_bytes(base64.b64decode(data["signature"]))
    verified = openssl(
        *("cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "signature.der")),
        *("-CAfile", str(folder / "ca.pem"), "-purpose", "any", "-signer", str(tmp_path / "customer.pem")),
    )
    assert verified.returncode == 0, verified.stderr
    signed = json.loads(verified.stdout)
    assert signed["orderRef"] == ref and signed["personalNumber"] == number and signed["endUserIp"] == "192.0.2.7"
    assert signed["relyingParty"] == RP_NAME and signed["kind"] == "auth"
    customer = x509.load_pem_x509_certificate((tmp_path / "customer.pem").read_bytes())
    assert data["bankIdIssueDate"] == customer.not_valid_before_utc.date().isoformat()

    # The OCSP response: the Tillit CA's, for that certificate, good.
    (tmp_path / "ocsp.der").write_bytes(base64.b64decode(data["ocspResponse"]))
    issuing = x509.load_pem_x509_certificates((folder / "ca.pem").read_bytes())[0]
    (tmp_path / "issuing.pem").write_bytes(issuing.public_bytes(serialization.Encoding.PEM))
    status = openssl(
        *("ocsp", "-respin", str(tmp_path / "ocsp.der"), "-CAfile", str(folder / "ca.pem")),
        *("-issuer", str(tmp_path / "issuing.pem"), "-sha256", "-cert", str(tmp_path / "customer.pem")),
    )
    assert status.returncode == 0 and "Response verify OK" in status.stderr + status.stdout, status.stderr
    assert ": good" in status.stdout, status.stdout


def test_auth_without_a_number_is_taken_by_the_phone_that_scans_it(person: People, rp: httpx.Client) -> None:
    number, phone = person()
    _, other_phone = person()
    order = rp.post("auth", json={"endUserIp": "198.51.100.1"}).json()
    start = time.time()
    ref = order["orderRef"]
    assert phone.request("GET", "/v1/app/requests").json()["requests"] == []  # nobody's yet
    assert collect(rp, ref)["hintCode"] == "outstandingTransaction"

    scanned = phone.request(
        "POST", "/v1/app/scan", {"qrContent": qr_content(order["qrStartToken"], order["qrStartSecret"], start)}
    )
    assert scanned.status_code == 200, scanned.text
    assert scanned.json()["orderRef"] == ref and scanned.json()["passwordBy"] == "phone"
    again = other_phone.request(
        "POST", "/v1/app/scan", {"qrContent": qr_content(order["qrStartToken"], order["qrStartSecret"], start)}
    )
    assert again.status_code == 409 and again.json()["error"] == "alreadyClaimed"
    assert collect(rp, ref)["hintCode"] == "userSign"

    approve(phone, ref)
    approved_then_scanned = other_phone.request(
        "POST", "/v1/app/scan", {"qrContent": qr_content(order["qrStartToken"], order["qrStartSecret"], start)}
    )  # approved, its password not yet sent: the order is open and still the first phone's
    assert approved_then_scanned.status_code == 409 and approved_then_scanned.json()["error"] == "alreadyClaimed"
    assert send_password(phone, ref).json()["status"] == "complete"
    assert collect(rp, ref)["completionData"]["user"]["personalNumber"] == number


def test_the_autostart_token_gives_the_order_to_the_phone_it_started(person: People, rp: httpx.Client) -> None:
    number, phone = person()
    order = rp.post("auth", json={"endUserIp": "198.51.100.2"}).json()
    taken = phone.request("POST", "/v1/app/autostart", {"autoStartToken": order["autoStartToken"]})
    assert taken.status_code == 200 and taken.json()["orderRef"] == order["orderRef"], taken.text
    unknown = phone.request("POST", "/v1/app/autostart", {"autoStartToken": "00000000-0000-0000-0000-000000000000"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "notFound"
    approve(phone, order["orderRef"])
    assert send_password(phone, order["orderRef"]).json()["status"] == "complete"
    assert collect(rp, order["orderRef"])["completionData"]["user"]["personalNumber"] == number


def test_sign_carries_the_decoded_text_and_its_format_to_the_phone(
    person: People, rp_daemon: tuple[Daemon, int, Path], rp: httpx.Client, tmp_path: Path
) -> None:
    _, _, folder = rp_daemon
    number, phone = person()
    text = "# Lån\n\nEg godkjenner *lånet* på 200 000 kr."
    body = {
        "endUserIp": "192.0.2.8",
        "requirement": {"personalNumber": number, "pinCode": True},
        "userVisibleData": b64(text),
        "userNonVisibleData": b64("intern-ref-42"),
        "userVisibleDataFormat": "simpleMarkdownV1",
    }
    ref = rp.post("sign", json=body).json()["orderRef"]
    request = approve(phone, ref)
    assert request["userVisibleData"] == text and request["userVisibleDataFormat"] == "simpleMarkdownV1"
    assert request["kind"] == "sign"
    assert send_password(phone, ref).json()["status"] == "complete"
    data = collect(rp, ref)["completionData"]
    (tmp_path / "s.der").write_bytes(base64.b64decode(data["signature"]))
    verified = openssl(
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        str(tmp_path / "s.der"),
        "-CAfile",
        str(folder / "ca.pem"),
        "-purpose",
        "any",
    )
    assert verified.returncode == 0, verified.stderr
    signed = json.loads(verified.stdout)
    assert signed["userVisibleData"] == b64(text) and signed["userNonVisibleData"] == b64("intern-ref-42")
    assert signed["kind"] == "sign" and signed["userVisibleDataFormat"] == "simpleMarkdownV1"


def test_phone_auth_names_the_person_on_the_phone(person: People, rp: httpx.Client) -> None:
    number, phone = person()
    started = rp.post("phone/auth", json={"personalNumber": number, "callInitiator": "RP"})
    assert started.status_code == 200 and set(started.json()) == {"orderRef"}, started.text
    ref = started.json()["orderRef"]
    approve(phone, ref)
    assert send_password(phone, ref).json()["status"] == "complete"
    assert collect(rp, ref)["status"] == "complete"


# -- cancel, alreadyInProgress, refusals -----------------------------------------------------------


def test_cancel_answers_an_empty_object_and_collect_says_cancelled(
    rp_daemon: tuple[Daemon, int, Path], rp: httpx.Client
) -> None:
    ref = rp.post("auth", json={"endUserIp": "192.0.2.9"}).json()["orderRef"]
    cancelled = rp.post("cancel", json={"orderRef": ref})
    assert cancelled.status_code == 200 and cancelled.json() == {}
    assert collect(rp, ref) == {"orderRef": ref, "status": "failed", "hintCode": "cancelled"}
    again = rp.post("cancel", json={"orderRef": ref})
    assert again.status_code == 400 and again.json()["errorCode"] == "invalidParameters"


def test_a_second_order_for_the_same_person_is_already_in_progress(person: People, rp: httpx.Client) -> None:
    number, _ = person()
    body = {"endUserIp": "192.0.2.10", "requirement": {"personalNumber": number}}
    first = rp.post("auth", json=body).json()["orderRef"]
    second = rp.post("auth", json=body)
    assert second.status_code == 400, second.text
    assert second.json()["errorCode"] == "alreadyInProgress" and second.json()["details"]
    assert collect(rp, first) == {"orderRef": first, "status": "failed", "hintCode": "cancelled"}


def test_an_order_for_someone_without_tillit_answers_as_a_customers_does(person: People, rp: httpx.Client) -> None:
    """An RP may not learn who has Tillit from the orders it starts (BankID: a person without BankID
    gets an order nobody takes). Before, an unknown number's order was failed/startFailed at the
    first collect and could not be cancelled, while a customer's was pending."""
    customer, _ = person()
    answers = {}
    for who, number in (("customer", customer), ("unknown", fresh_adult())):
        body = {"endUserIp": "192.0.2.11", "requirement": {"personalNumber": number}}
        ref = rp.post("auth", json=body).json()["orderRef"]
        pending = collect(rp, ref)
        cancelled = rp.post("cancel", json={"orderRef": ref})
        answers[who] = (pending["status"], pending["hintCode"], cancelled.status_code, collect(rp, ref)["hintCode"])
    assert answers["unknown"] == answers["customer"] == ("pending", "outstandingTransaction", 200, "cancelled")


@pytest.mark.parametrize(
    "body",
    [
        {},  # no endUserIp
        {"endUserIp": "not an address"},
        {"endUserIp": "192.0.2.1", "userVisibleData": "not base64!"},
        {"endUserIp": "192.0.2.1", "userVisibleData": base64.b64encode(b"\xff\xfe").decode()},  # not UTF-8
        {"endUserIp": "192.0.2.1", "userVisibleData": b64("Betal \u202e001 kr")},  # shown reversed: hidden text
        {"endUserIp": "192.0.2.1", "userVisibleDataFormat": "html"},
        {"endUserIp": "192.0.2.1", "requirement": {"personalNumber": "12345"}},
        {"endUserIp": "192.0.2.1", "requirement": {"flavour": "mint"}},
        {"endUserIp": "192.0.2.1", "unexpected": 1},
    ],
)
def test_bad_starts_are_invalid_parameters(rp: httpx.Client, body: dict[str, Any]) -> None:
    answer = rp.post("auth", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errorCode"] == "invalidParameters" and answer.json()["details"]


def test_refusals_have_bankids_codes_and_statuses(rp: httpx.Client) -> None:
    def refused(response: httpx.Response, status: int, code: str) -> None:
        assert response.status_code == status, response.text
        assert response.json()["errorCode"] == code and response.json()["details"]

    refused(rp.post("sign", json={"endUserIp": "192.0.2.1"}), 400, "invalidParameters")  # no userVisibleData
    refused(rp.post("collect", json={"orderRef": "00000000-0000-0000-0000-000000000000"}), 400, "invalidParameters")
    refused(
        rp.post("collect", content=b"{not json", headers={"Content-Type": "application/json"}), 400, "invalidParameters"
    )
    refused(
        rp.post("collect", content=b"orderRef=1", headers={"Content-Type": "text/plain"}), 415, "unsupportedMediaType"
    )
    refused(rp.post("nothing-here", json={}), 404, "notFound")
    refused(rp.get("collect"), 405, "methodNotAllowed")


# -- who may call: certificates --------------------------------------------------------------------


def test_a_certificate_tillit_did_not_issue_is_refused_at_the_handshake(
    rp_daemon: tuple[Daemon, int, Path], tmp_path: Path
) -> None:
    _, port, folder = rp_daemon
    key, cert = self_signed(RP_NAME)
    (tmp_path / "rp.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "rp.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (tmp_path / "ca.pem").write_bytes((folder / "ca.pem").read_bytes())
    with rp_client(port, tmp_path) as foreign, pytest.raises(httpx.TransportError):
        foreign.post("auth", json={"endUserIp": "192.0.2.1"})
    context = ssl.create_default_context(cafile=str(folder / "ca.pem"))  # no client certificate at all
    with httpx.Client(verify=context) as anonymous, pytest.raises(httpx.TransportError):
        anonymous.post(f"https://127.0.0.1:{port}/rp/v6.0/auth", json={"endUserIp": "192.0.2.1"})


def test_a_revoked_relying_party_is_unauthorized(rp_daemon: tuple[Daemon, int, Path]) -> None:
    daemon, port, _ = rp_daemon
    folder = daemon.home.parent / "revoked-rp"
    daemon.run("tillit-signer", "rps", "add", "--name", "Gamlebanken", "--out", str(folder))
    with rp_client(port, folder) as client:
        ref = client.post("auth", json={"endUserIp": "192.0.2.1"}).json()["orderRef"]
        daemon.run("tillit-signer", "rps", "revoke", "Gamlebanken")
        for path, body in (("auth", {"endUserIp": "192.0.2.1"}), ("collect", {"orderRef": ref})):
            answer = client.post(path, json=body)
            assert answer.status_code == 401, answer.text
            assert answer.json()["errorCode"] == "unauthorized"
    listed = json.loads(daemon.run("tillit-signer", "rps", "list", "--json").stdout)
    assert next(r for r in listed if r["name"] == "Gamlebanken")["revoked"] is not None


def test_one_rps_order_is_no_order_to_another(rp_daemon: tuple[Daemon, int, Path], rp: httpx.Client) -> None:
    daemon, port, _ = rp_daemon
    folder = daemon.home.parent / "other-rp"
    daemon.run("tillit-signer", "rps", "add", "--name", "Andrebanken", "--out", str(folder))
    ref = rp.post("auth", json={"endUserIp": "192.0.2.1"}).json()["orderRef"]
    with rp_client(port, folder) as other:
        for path in ("collect", "cancel"):
            answer = other.post(path, json={"orderRef": ref})
            assert answer.status_code == 400 and answer.json()["errorCode"] == "invalidParameters"
    assert collect(rp, ref)["status"] == "pending"


# -- the QR code and the phone's password ----------------------------------------------------------


def test_the_signer_checks_the_qr_codes_hmac_and_age(person: People, rp: httpx.Client) -> None:
    _, phone = person()
    order = rp.post("auth", json={"endUserIp": "192.0.2.11"}).json()
    start = time.time()
    token, secret = order["qrStartToken"], order["qrStartSecret"]

    def scan(content: str) -> httpx.Response:
        return phone.request("POST", "/v1/app/scan", {"qrContent": content})

    def refused(response: httpx.Response, status: int, code: str) -> None:
        assert response.status_code == status and response.json()["error"] == code, response.text

    refused(scan("https://example.com/"), 400, "invalidQr")
    refused(scan(qr_content(token, "not-the-secret", start)), 400, "invalidQr")
    refused(scan(qr_content("00000000-0000-0000-0000-000000000000", secret, start)), 404, "notFound")
    # A code photographed 30 s ago (qrTime 30 s behind the real time since the start): stale.
    old = qr_content(token, secret, start - 30)
    refused(scan(old), 410, "qrExpired")
    refused(scan(qr_content(token, secret, start, shift=30)), 410, "qrExpired")  # nor one from the future
    assert collect(rp, order["orderRef"])["hintCode"] == "outstandingTransaction"  # nobody has it
    assert scan(qr_content(token, secret, start)).status_code == 200


def test_a_named_persons_order_is_refused_to_another_persons_phone(person: People, rp: httpx.Client) -> None:
    number, phone = person()
    _, stranger = person()
    order = rp.post("auth", json={"endUserIp": "192.0.2.12", "requirement": {"personalNumber": number}}).json()
    start = time.time()
    content = qr_content(order["qrStartToken"], order["qrStartSecret"], start)
    refused = stranger.request("POST", "/v1/app/scan", {"qrContent": content})
    assert refused.status_code == 403 and refused.json()["error"] == "wrongCustomer", refused.text
    assert phone.request("POST", "/v1/app/scan", {"qrContent": content}).status_code == 200


def test_only_the_approving_phone_sends_the_password_and_only_for_rp_orders(
    person: People, rp_daemon: tuple[Daemon, int, Path], rp: httpx.Client
) -> None:
    daemon, _, _ = rp_daemon
    number, phone = person()
    stranger_number, stranger = person()
    ref = rp.post("auth", json={"endUserIp": "192.0.2.13", "requirement": {"personalNumber": number}}).json()[
        "orderRef"
    ]
    approve(phone, ref)
    refused = send_password(stranger, ref)
    assert refused.status_code == 403, refused.text
    assert collect(rp, ref)["status"] == "pending"
    with daemon.kiosk() as kiosk:
        kiosk_ref = kiosk.post("/v1/auth", json={"personalNumber": stranger_number}).json()["orderRef"]
        approve(stranger, kiosk_ref)
        at_kiosk = send_password(stranger, kiosk_ref)
        assert at_kiosk.status_code == 409 and at_kiosk.json()["error"] == "passwordAtKiosk", at_kiosk.text


def test_guessing_the_password_through_the_phone_locks_as_at_the_kiosk(
    person: People, rp_daemon: tuple[Daemon, int, Path], rp: httpx.Client
) -> None:
    """The attack: a stolen, unlocked phone guessing the password of RP orders. Five wrong
    passwords lock the customer exactly as five at a kiosk do: the order fails passwordLocked, the
    right password no longer helps, and kiosk orders fail at once."""
    daemon, _, _ = rp_daemon
    number, phone = person()
    ref = rp.post("auth", json={"endUserIp": "192.0.2.14", "requirement": {"personalNumber": number}}).json()[
        "orderRef"
    ]
    approve(phone, ref)
    answers = [send_password(phone, ref, f"Feil-{i}-gjetning").json() for i in range(5)]
    assert [a["attemptsLeft"] for a in answers] == [4, 3, 2, 1, 0]
    assert [a["hintCode"] for a in answers[:4]] == ["wrongPassword"] * 4
    assert answers[4]["status"] == "failed" and answers[4]["hintCode"] == "passwordLocked"
    assert send_password(phone, ref).json()["status"] == "failed"  # the right one, too late
    assert collect(rp, ref) == {"orderRef": ref, "status": "failed", "hintCode": "certificateErr"}
    with daemon.kiosk() as kiosk:
        locked = kiosk.post("/v1/auth", json={"personalNumber": number}).json()["orderRef"]
        assert kiosk.post("/v1/collect", json={"orderRef": locked}).json()["hintCode"] == "passwordLocked"
    # A relying party's next order is not failed at once (that would tell it who is locked): it is
    # pushed to no phone, and the customer's own phone that starts it is told, the order then failing.
    again = rp.post("auth", json={"endUserIp": "192.0.2.14", "requirement": {"personalNumber": number}}).json()
    assert collect(rp, again["orderRef"])["hintCode"] == "outstandingTransaction"
    pending = phone.request("GET", "/v1/app/requests?wait=0").json()["requests"]
    assert again["orderRef"] not in [r["orderRef"] for r in pending]
    started = phone.request("POST", "/v1/app/autostart", {"autoStartToken": again["autoStartToken"]})
    assert started.status_code == 403 and started.json()["error"] == "passwordLocked", started.text
    assert collect(rp, again["orderRef"]) == {
        "orderRef": again["orderRef"],
        "status": "failed",
        "hintCode": "certificateErr",
    }


def test_the_faces_openapi_document_lists_bankids_operations_and_errors(rp: httpx.Client) -> None:
    document = rp.get("openapi.json").json()
    paths = {"/rp/v6.0/" + p for p in ("auth", "sign", "phone/auth", "phone/sign", "collect", "cancel")}
    assert set(document["paths"]) == paths
    for path in paths:
        responses = document["paths"][path]["post"]["responses"]
        assert "422" not in responses, path
        for status in ("400", "401", "404", "415", "500", "503"):
            assert responses[status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/RpError"
            }, (path, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    collected = document["components"]["schemas"]["Collected"]["properties"]
    assert {"orderRef", "status", "hintCode", "completionData"} <= set(collected)


@pytest.mark.parametrize("late", ["body", "head"])
def test_a_request_that_does_not_all_arrive_is_request_timeout(rp_daemon: tuple[Daemon, int, Path], late: str) -> None:
    """An RP that sends part of a request's head, or announces a body and sends part of it, is
    answered 408 requestTimeout when the deadline passes (as BankID answers), and the connection is
    closed; without the deadlines the face would wait for the rest as long as the connection lasts."""
    _, port, folder = rp_daemon
    context = ssl.create_default_context(cafile=str(folder / "ca.pem"))
    context.load_cert_chain(str(folder / "rp.crt"), str(folder / "rp.key"))
    head = b"POST /rp/v6.0/collect HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    partial = head if late == "head" else head + b"Content-Length: 100\r\n\r\n" + b'{"orderRef":'
    # From before the connection: a first request's head is timed from the connection (made, for TLS,
    # when the handshake is done), which the client sees a little after its own connect began.
    started = time.monotonic()
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as s,
    ):
        s.sendall(partial)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            got = s.recv(65536)
            if not got:
                break
            answer += got
        seconds = time.monotonic() - started
        closed = s.recv(1) == b""
    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert status_line.split()[1] == b"408", answer
    assert json.loads(body)["errorCode"] == "requestTimeout", body
    assert RP_BODY_SECONDS <= seconds < RP_BODY_SECONDS + 3, seconds
    assert b"connection: close" in headers.lower() and closed, answer


def test_rps_commands_refuse_in_one_line(rp_daemon: tuple[Daemon, int, Path]) -> None:
    daemon, _, folder = rp_daemon
    for args in (
        ("add", "--name", RP_NAME, "--out", str(folder.parent / "again")),  # the name is taken
        ("add", "--name", " ", "--out", str(folder.parent / "blank")),
        ("revoke", "Ingen slik bank"),
    ):
        result = daemon.run("tillit-signer", "rps", *args, check=False)
        assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
    assert not (folder.parent / "again").exists()


def test_the_hsm_away_is_maintenance_and_the_completion_data_follows_its_return(
    person: People, rp_daemon: tuple[Daemon, int, Path], rp: httpx.Client
) -> None:
    """SoftHSM's token store moved away after the password was accepted: the completion data cannot
    be signed, so collect answers 503 maintenance (pybankid: MaintenanceError, try again), never a
    500; once the store is back the same collect completes, in the same process."""
    daemon, _, _ = rp_daemon
    number, phone = person()
    ref = rp.post("auth", json={"endUserIp": "192.0.2.15", "requirement": {"personalNumber": number}}).json()[
        "orderRef"
    ]
    approve(phone, ref)
    assert send_password(phone, ref).json()["status"] == "complete"
    tokens, away = daemon.home / "tokens", daemon.home / "tokens-away"
    shutil.move(str(tokens), str(away))
    try:
        deadline = time.monotonic() + 10
        while httpx.get(daemon.url + "/healthz", timeout=5).status_code != 503:
            assert time.monotonic() < deadline, "the HSM's absence was not noticed"
            time.sleep(0.1)
        answer = rp.post("collect", json={"orderRef": ref})
        assert answer.status_code == 503, answer.text
        assert answer.json()["errorCode"] == "maintenance"
    finally:
        shutil.move(str(away), str(tokens))
    deadline = time.monotonic() + 15
    while True:
        answer = rp.post("collect", json={"orderRef": ref})
        if answer.status_code == 200:
            break
        assert answer.status_code == 503 and time.monotonic() < deadline, answer.text
        time.sleep(0.2)
    assert answer.json()["status"] == "complete" and answer.json()["completionData"]["user"]["personalNumber"] == number

"""The daemon's /openapi.json describes what it does: every route called on the real daemon for the
statuses a test can produce cheaply, each answer checked against the document by schemathesis
(status documented, media type, JSON body against its schema: tests/conformance.py); and the
document's own claims: bearer security schemes instead of an Authorization parameter, no 422, the
binary media types and bodies, the phone's signature headers."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests import conformance
from tests.daemon import PASSWORD, Daemon
from tests.factories import fresh_adult
from tillit.phone.client import PhoneClient, sign_bytes
from tillit.signer.sample_documents import agreement_pdf
from tillit.signer.wire import approval_message

pytestmark = pytest.mark.integration

UNKNOWN_REF = "00000000-0000-0000-0000-000000000000"
KIOSK_JSON_POSTS = [
    "/v1/auth",
    "/v1/sign",
    "/v1/collect",
    "/v1/password",
    "/v1/code",
    "/v1/cancel",
    "/v1/login-method",
    "/v1/feedback",
    "/v1/block",
    "/v1/reset",
    "/v1/reset/questions",
    "/v1/reset/complete",
]
DEVICE_SIGNED = {
    ("GET", "/v1/app/requests"),
    ("POST", "/v1/app/requests/{order_ref}"),
    ("POST", "/v1/app/settings"),
    ("POST", "/v1/app/pin"),
    ("POST", "/v1/app/unlock"),
    ("POST", "/v1/app/scan"),
    ("POST", "/v1/app/autostart"),
    ("POST", "/v1/app/requests/{order_ref}/password"),
}


@pytest.fixture(scope="module")
def document(daemon: Daemon) -> dict[str, Any]:
    return dict(httpx.get(daemon.url + "/openapi.json").json())


@pytest.fixture(scope="module")
def people(daemon: Daemon) -> Iterator[tuple[str, PhoneClient]]:
    number = fresh_adult()
    daemon.enrol(number, "Kari Nordmann")
    phone = daemon.add_device(number)
    yield number, phone
    phone.close()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def test_the_document_declares_bearer_schemes_and_no_framework_422(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["kioskToken"] == {"type": "http", "scheme": "bearer", "description": "A kiosk's token"}
    assert schemes["staffToken"]["scheme"] == "bearer"
    for method, path, operation in operations(document):
        where = f"{method} {path}"
        assert "422" not in operation["responses"], where
        names = [p["name"].lower() for p in operation.get("parameters", [])]
        assert "authorization" not in names, where
        assert "400" in operation["responses"] and "413" in operation["responses"], where
        if path in KIOSK_JSON_POSTS or path.startswith("/v1/orders/"):
            assert operation.get("security") == [{"kioskToken": []}], where
        if (method, path) in DEVICE_SIGNED:
            assert {"x-tillit-device", "x-tillit-timestamp", "x-tillit-nonce", "x-tillit-signature"} <= set(names)
            if method == "POST":
                assert "application/json" in operation["requestBody"]["content"], where
    assert document["paths"]["/v1/agreements"]["post"]["security"] == [{"staffToken": []}]
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_binary_answers_and_bodies_carry_their_media_types(document: dict[str, Any]) -> None:
    def answers(method: str, path: str) -> set[str]:
        return set(document["paths"][path][method]["responses"]["200"]["content"])

    assert answers("get", "/v1/orders/{order_ref}/documents/{index}") == {
        "application/pdf",
        "application/pkcs7-signature",
    }
    assert answers("get", "/v1/orders/{order_ref}/receipt") == {"application/jose"}
    assert answers("get", "/v1/agreements/{agreement_id}/document") == {"application/pdf"}
    assert answers("get", "/v1/ca") == {"application/pem-certificate-chain"}
    assert answers("get", "/v1/crl") == {"application/pkix-crl"}
    assert answers("post", "/v1/ocsp") == {"application/ocsp-response"}
    assert set(document["paths"]["/v1/ocsp"]["post"]["requestBody"]["content"]) == {"application/ocsp-request"}
    if "/v1/tsa" in document["paths"]:  # RFC 3161 over HTTP
        assert answers("post", "/v1/tsa") == {"application/timestamp-reply"}
        assert set(document["paths"]["/v1/tsa"]["post"]["requestBody"]["content"]) == {"application/timestamp-query"}


def test_real_answers_match_the_document(daemon: Daemon, document: dict[str, Any], people: Any) -> None:
    number, phone = people
    schema = conformance.load(daemon.url)
    failures: list[str] = []
    seen: dict[tuple[str, str], set[int]] = {}
    other = daemon.run("tillit-signer", "kiosks", "add", "--name", "Hamar").stdout.strip()
    staff = daemon.run("tillit-signer", "kiosks", "add", "--name", "Backoffice", "--staff").stdout.strip()

    def check(response: httpx.Response, status: int) -> httpx.Response:
        assert response.status_code == status, (response.request.method, response.request.url, response.text[:300])
        failures.extend(conformance.problems(schema, response))
        operation = schema.find_operation_by_path(response.request.method, response.request.url.path)
        if operation is not None:
            seen.setdefault((operation.method.upper(), operation.path), set()).add(status)
        return response

    public = httpx.Client(base_url=daemon.url, timeout=30)
    kiosk = daemon.kiosk()
    as_staff = httpx.Client(base_url=daemon.url, headers={"Authorization": f"Bearer {staff}"}, timeout=30)
    elsewhere = httpx.Client(base_url=daemon.url, headers={"Authorization": f"Bearer {other}"}, timeout=30)
    with public, kiosk, as_staff, elsewhere:
        # -- public
        for path in ("/v1/keys", "/v1/ca", "/v1/ca/root.cer", "/v1/ca/issuing.cer", "/v1/crl", "/v1/crl/root"):
            check(public.get(path), 200)
        for path in ("/healthz", "/metrics", "/v1/ocsp/MAA="):  # the last: OCSP by GET, malformedRequest
            check(public.get(path), 200)
        check(public.get("/v1/ocsp/" + "A" * 8000), 414)
        check(public.request("GET", "/v1/keys", content=b"x"), 413)
        ocsp = check(
            public.post("/v1/ocsp", content=b"\x30\x00", headers={"Content-Type": "application/ocsp-request"}), 200
        )
        assert ocsp.content[:1] == b"\x30"  # a DER OCSPResponse (malformedRequest)

        # -- every kiosk route refuses a missing token, a staff token, and a body it cannot take
        for path in KIOSK_JSON_POSTS:
            check(public.post(path, json={}), 401)
            check(as_staff.post(path, json={"orderRef": UNKNOWN_REF}), 403)
            check(kiosk.post(path, json={"unexpected": 1}), 400)
        check(kiosk.post("/v1/collect", json={"orderRef": UNKNOWN_REF}), 404)
        check(kiosk.post("/v1/login-method", json={"personalNumber": number}), 200)

        # -- a login order: open, collected, cancelled; it has no documents nor receipt
        login = check(kiosk.post("/v1/auth", json={"personalNumber": number}), 200).json()["orderRef"]
        check(kiosk.post("/v1/collect", json={"orderRef": login}), 200)
        check(kiosk.get(f"/v1/orders/{login}/documents/0"), 409)
        check(kiosk.get(f"/v1/orders/{login}/receipt"), 409)
        check(kiosk.post("/v1/cancel", json={"orderRef": login}), 200)

        # -- a sign order through the phone's signed requests
        pdf = agreement_pdf("Lånavtale", "Kari Nordmann", pages=1)
        documents = [
            {"name": "laan.pdf", "contentType": "application/pdf", "content": base64.b64encode(pdf).decode()},
            {"name": "vedlegg.txt", "contentType": "text/plain", "content": base64.b64encode(b"Vedlegg").decode()},
        ]
        sign = {"personalNumber": number, "userVisibleData": "Eg signerer", "documents": documents}
        ref = check(kiosk.post("/v1/sign", json=sign), 200).json()["orderRef"]
        check(public.get("/v1/app/requests"), 401)
        pending = check(phone.request("GET", "/v1/app/requests?wait=5"), 200).json()["requests"]
        challenge = next(r["challenge"] for r in pending if r["orderRef"] == ref)
        approval = sign_bytes(phone.key, approval_message(challenge, "approve"))
        decision = {"decision": "approve", "signature": approval, "biometric": False}
        check(phone.request("POST", f"/v1/app/requests/{ref}", decision), 200)
        check(kiosk.post("/v1/password", json={"orderRef": ref, "password": PASSWORD}), 200)
        check(kiosk.get(f"/v1/orders/{ref}/documents/0"), 200)
        check(kiosk.get(f"/v1/orders/{ref}/documents/1"), 200)
        check(kiosk.get(f"/v1/orders/{ref}/documents/7"), 404)
        check(public.get(f"/v1/orders/{ref}/documents/0"), 401)
        check(kiosk.get(f"/v1/orders/{ref}/receipt"), 200)
        check(elsewhere.get(f"/v1/orders/{ref}/receipt"), 404)
        check(kiosk.post("/v1/feedback", json={"orderRef": ref, "rating": 5}), 204)

        # -- the phone's other signed requests
        check(phone.request("POST", "/v1/app/settings", {"biometric": False}), 200)
        check(phone.request("POST", "/v1/app/scan", {"qrContent": "bankid.nothing"}), 400)
        check(phone.request("POST", "/v1/app/autostart", {"autoStartToken": UNKNOWN_REF}), 404)
        check(phone.request("POST", f"/v1/app/requests/{ref}/password", {"password": PASSWORD}), 409)  # a kiosk's
        check(phone.request("POST", "/v1/app/pin", {"unexpected": 1}), 400)
        check(public.post("/v1/app/unlock", json={"pinVerifier": "AAAA"}), 401)
        check(public.post("/v1/app/activations", json={}), 400)
        check(public.post("/v1/app/activations/nope/complete", json={}), 400)

        # -- agreements: queued by staff, read within a customer session
        agreement = {"personalNumber": number, "title": "Avtale", "document": base64.b64encode(pdf).decode()}
        check(as_staff.post("/v1/agreements", json=agreement), 201)
        check(kiosk.post("/v1/agreements", json=agreement), 403)
        check(kiosk.get("/v1/agreements"), 401)
        check(kiosk.get("/v1/agreements/nope/document"), 401)
        check(kiosk.delete("/v1/session"), 401)

    assert not failures, "\n".join(failures)
    every = {(method, path) for method, path, _ in operations(document)}
    assert every - set(seen) <= {("POST", "/v1/tsa")}, sorted(every - set(seen))

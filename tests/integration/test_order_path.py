"""The order path (`signer.order_path`) and FastAPI answer an order's requests alike.

Each request of a sign order goes to the real daemon twice: as clients send it, which the order
path answers, and in a form only FastAPI's stack takes (a `+json` media type, an extra query
parameter that FastAPI ignores), which the order path hands on. The answers must agree, byte for
byte where the request is the same, and both sides must refuse alike. The signed CMS is checked by
`openssl cms -verify` whichever side served it.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.daemon import PASSWORD, Daemon
from tests.factories import fresh_adult
from tillit.phone.client import PhoneClient, sign_bytes
from tillit.signer.wire import AppRequest, approval_message

pytestmark = pytest.mark.integration

DOCUMENT = b"Avtale om brukskonto.\n" * 40
VIA_FASTAPI = "via=fastapi"  # a query parameter no route declares: FastAPI ignores it, the order path declines


@pytest.fixture(scope="module")
def customer(daemon: Daemon) -> Iterator[tuple[str, PhoneClient]]:
    number = fresh_adult()
    daemon.enrol(number)
    phone = daemon.add_device(number)
    yield number, phone
    phone.close()


def kiosk_post(kiosk: httpx.Client, path: str, payload: dict[str, Any], fastapi: bool) -> httpx.Response:
    media_type = "application/vnd.tillit+json" if fastapi else "application/json"
    return kiosk.post(path, content=json.dumps(payload).encode(), headers={"Content-Type": media_type})


def phone_poll(phone: PhoneClient, fastapi: bool) -> httpx.Response:
    return phone.request("GET", "/v1/app/requests?wait=5" + (f"&{VIA_FASTAPI}" if fastapi else ""))


def phone_decide(phone: PhoneClient, request: AppRequest, fastapi: bool) -> httpx.Response:
    signature = sign_bytes(phone.key, approval_message(request.challenge, "approve"))
    path = f"/v1/app/requests/{request.order_ref}" + (f"?{VIA_FASTAPI}" if fastapi else "")
    return phone.request("POST", path, {"decision": "approve", "signature": signature, "biometric": False})


def sign_order(daemon: Daemon, number: str, phone: PhoneClient, fastapi: bool) -> dict[str, Any]:
    """One whole sign order, every request on one side; what each step answered."""
    content = base64.b64encode(DOCUMENT).decode()
    with daemon.kiosk() as kiosk:
        started = kiosk_post(
            kiosk,
            "/v1/sign",
            {
                "personalNumber": number,
                "userVisibleData": "Avtale om brukskonto",
                "documents": [{"name": "avtale.txt", "contentType": "text/plain", "content": content}],
            },
            fastapi,
        )
        assert started.status_code == 200, started.text
        ref = started.json()["orderRef"]
        polled = phone_poll(phone, fastapi)
        assert polled.status_code == 200, polled.text
        request = next(AppRequest.model_validate(r) for r in polled.json()["requests"] if r["orderRef"] == ref)
        decided = phone_decide(phone, request, fastapi)
        password = kiosk_post(kiosk, "/v1/password", {"orderRef": ref, "password": PASSWORD}, fastapi)
        collected = kiosk_post(kiosk, "/v1/collect", {"orderRef": ref}, fastapi)
        document = kiosk.get(f"/v1/orders/{ref}/documents/0" + (f"?{VIA_FASTAPI}" if fastapi else ""))
        return {
            "ref": ref,
            "started": started,
            "polled": polled,
            "decided": decided,
            "password": password,
            "collected": collected,
            "document": document,
        }


def shape(value: Any) -> Any:
    """The keys of a JSON answer, all the way down, without the values that differ per order."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


def test_a_sign_order_through_either_side_answers_alike_and_signs_verifiably(
    daemon: Daemon, customer: tuple[str, PhoneClient], tmp_path: Path
) -> None:
    number, phone = customer
    sides = {fastapi: sign_order(daemon, number, phone, fastapi) for fastapi in (False, True)}
    for step in ("started", "polled", "decided", "password", "collected"):
        fast, slow = sides[False][step], sides[True][step]
        assert (fast.status_code, fast.headers["content-type"]) == (slow.status_code, slow.headers["content-type"])
        assert shape(fast.json()) == shape(slow.json()), step
    assert sides[False]["password"].json()["status"] == sides[True]["password"].json()["status"] == "complete"
    assert sides[False]["decided"].json() == {"orderRef": sides[False]["ref"], "decision": "approve"}

    ca = tmp_path / "ca.pem"
    ca.write_text(httpx.get(daemon.url + "/v1/ca").text)
    content = tmp_path / "avtale.txt"
    content.write_bytes(DOCUMENT)
    for fastapi, side in sides.items():
        document = side["document"]
        assert document.status_code == 200 and document.headers["content-type"] == "application/pkcs7-signature"
        signature = tmp_path / f"signature-{fastapi}.der"
        signature.write_bytes(document.content)
        verified = subprocess.run(
            [
                *("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(signature)),
                *("-content", str(content), "-CAfile", str(ca), "-purpose", "any", "-out", "/dev/null"),
            ],
            capture_output=True,
            text=True,
        )
        assert verified.returncode == 0, verified.stderr


def test_the_same_request_gets_the_same_bytes_from_either_side(
    daemon: Daemon, customer: tuple[str, PhoneClient]
) -> None:
    number, phone = customer
    ref = sign_order(daemon, number, phone, fastapi=False)["ref"]
    with daemon.kiosk() as kiosk:
        fast = kiosk_post(kiosk, "/v1/collect", {"orderRef": ref}, fastapi=False)
        slow = kiosk_post(kiosk, "/v1/collect", {"orderRef": ref}, fastapi=True)
        assert fast.status_code == 200 and fast.content == slow.content
        fast = kiosk.get(f"/v1/orders/{ref}/documents/0")
        slow = kiosk.get(f"/v1/orders/{ref}/documents/0?{VIA_FASTAPI}")
        assert fast.status_code == 200 and fast.content == slow.content
        assert fast.headers["content-disposition"] == slow.headers["content-disposition"]
        for index in ("7", "99999", "-1", "x"):  # no such document, and indexes only FastAPI parses
            fast = kiosk.get(f"/v1/orders/{ref}/documents/{index}")
            slow = kiosk.get(f"/v1/orders/{ref}/documents/{index}?{VIA_FASTAPI}")
            assert 400 <= fast.status_code < 500, index
            assert (fast.status_code, fast.json()) == (slow.status_code, slow.json()), index


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/v1/collect", {"orderRef": "no-such-order"}),
        ("/v1/password", {"orderRef": "no-such-order", "password": "x"}),
        ("/v1/auth", {"personalNumber": "12345678901"}),
        ("/v1/sign", {"personalNumber": "12345678901", "userVisibleData": "x"}),
    ],
)
def test_either_side_refuses_alike(daemon: Daemon, path: str, payload: dict[str, Any]) -> None:
    with daemon.kiosk() as kiosk:
        fast = kiosk_post(kiosk, path, payload, fastapi=False)
        slow = kiosk_post(kiosk, path, payload, fastapi=True)
    assert 400 <= fast.status_code < 500
    assert (fast.status_code, fast.json()) == (slow.status_code, slow.json())
    with httpx.Client(base_url=daemon.url, headers={"Authorization": "Bearer not-a-kiosk"}) as stranger:
        fast = kiosk_post(stranger, path, payload, fastapi=False)
        slow = kiosk_post(stranger, path, payload, fastapi=True)
    assert fast.status_code == 401
    assert (fast.status_code, fast.json()) == (slow.status_code, slow.json())


def test_a_phone_request_signed_for_another_path_is_refused_on_either_side(
    daemon: Daemon, customer: tuple[str, PhoneClient]
) -> None:
    _, phone = customer
    for path in ("/v1/app/requests?wait=0", f"/v1/app/requests?wait=0&{VIA_FASTAPI}"):
        headers = phone.signed_headers("GET", "/v1/app/requests?wait=1", b"")  # signed for another query
        answer = phone.http.get(daemon.url + path, headers=headers)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.json()["error"] == "unauthorized"


def test_the_order_paths_requests_are_in_the_latency_metric_by_route(daemon: Daemon) -> None:
    metrics = httpx.get(daemon.url + "/metrics").text
    for route in ("/v1/sign", "/v1/password", "/v1/collect", "/v1/app/requests", "/v1/app/requests/{order_ref}"):
        assert f'route="{route}"' in metrics, route
    assert 'route="/v1/orders/{order_ref}/documents/{index}"' in metrics

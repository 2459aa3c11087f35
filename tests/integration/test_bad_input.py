"""Bad input (security invariant 6: docs/proofs.md): a 4xx with a JSON {"error", "reason"}, never a 500,
and no state change, on every endpoint the kiosk and the phone use; and one-line errors from
`tillit-signer customers add`.

The daemon here has a small document limit (64 KiB) so that a real oversized body is cheap to send.
Every case runs against a customer whose order is already approved and waiting for the password:
anything that slipped through (a second order, a counted password, a cancel) would show in the
store, which is compared before and after each request.
"""

from __future__ import annotations

import base64
import csv
import http.client
import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.daemon import PASSWORD, Daemon, make_daemon
from tests.factories import fresh_adult, synthetic_number, years_ago
from tillit.phone.client import PhoneClient, sign_bytes
from tillit.signer.wire import approval_message

pytestmark = pytest.mark.integration

TSV = Path(__file__).resolve().parents[1] / "data" / "personal-numbers.tsv"
MAX_DOCUMENT = 65536


def _invalid_numbers() -> list[str]:
    lines = [line for line in TSV.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    rows = list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r["number"] for r in rows if r["expect"] == "invalid"]


INVALID_NUMBERS = _invalid_numbers()


@dataclass
class World:
    d: Daemon
    kiosk: httpx.Client
    number: str
    phone: PhoneClient
    ref: str  # approved, waiting for the password


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    d = make_daemon(tmp_path_factory.mktemp("badinput") / "home", TILLIT_MAX_DOCUMENT_BYTES=str(MAX_DOCUMENT))
    number = fresh_adult()
    d.enrol(number)
    phone = d.add_device(number)
    d.start()
    kiosk = d.kiosk()
    try:
        ref = kiosk.post("/v1/auth", json={"personalNumber": number}).json()["orderRef"]
        request = phone.requests(wait=5).requests[0]
        phone.decide(request, "approve")
        entries_before = _audit_verify(d)
        yield World(d, kiosk, number, phone, ref)
        # Nothing in this module changed the order or the customer.
        assert kiosk.post("/v1/collect", json={"orderRef": ref}).json()["hintCode"] == "userSign"
        # Never a 500: the daemon's own request metrics, by status class, have 4xx and no 5xx.
        samples = [line for line in httpx.get(d.url + "/metrics").text.splitlines() if not line.startswith("#")]
        assert any("4xx" in line for line in samples), "no request metrics by status class"
        assert not [line for line in samples if "5xx" in line and float(line.rsplit(" ", 1)[1]) > 0]
        assert _audit_verify(d) >= entries_before
    finally:
        kiosk.close()
        phone.close()
        d.stop()


def _audit_verify(d: Daemon) -> int:
    result = d.run("tillit-signer", "audit", "verify", check=False)
    assert result.returncode == 0, result.stderr
    return int(re.findall(r"(\d+) entries", result.stdout)[0])


def snapshot(d: Daemon) -> dict[str, Any]:
    """Everything an accepted request could change (device nonces aside)."""
    db = sqlite3.connect(d.home / "signer.db", timeout=30)
    try:
        return {
            "orders": db.execute("SELECT ref, status, hint_code FROM orders ORDER BY ref").fetchall(),
            "audit": db.execute("SELECT COUNT(*) FROM audit").fetchone()[0],
            "customers": db.execute(
                "SELECT id, failed_passwords, password_locked, status FROM customers ORDER BY id"
            ).fetchall(),
            "devices": db.execute("SELECT id, status FROM devices ORDER BY id").fetchall(),
            "kiosks": db.execute("SELECT id, status FROM kiosks ORDER BY id").fetchall(),
        }
    finally:
        db.close()


def _audit_events_after(d: Daemon, seq: int) -> list[str]:
    db = sqlite3.connect(d.home / "signer.db", timeout=30)
    try:
        return [row[0] for row in db.execute("SELECT event FROM audit WHERE seq > ? ORDER BY seq", [seq])]
    finally:
        db.close()


STATE_EVENTS = ("order.", "customer.", "password.", "kiosk.", "device.activated", "device.deactivated")


@contextmanager
def unchanged(w: World, attempts_audited: bool = False) -> Iterator[None]:
    """Nothing changes. With `attempts_audited` (the phone's requests: every authentication attempt
    is audited) the audit log may record the refused attempt itself, but no state change."""
    before = snapshot(w.d)
    yield
    after = snapshot(w.d)
    if attempts_audited:
        events = _audit_events_after(w.d, before["audit"])
        assert not [e for e in events if e.startswith(STATE_EVENTS)], events
        before.pop("audit")
        after.pop("audit")
    assert after == before, "a refused request changed the state"


def refused(r: httpx.Response | http.client.HTTPResponse, *statuses: int) -> dict[str, Any]:
    """A 4xx (one of `statuses` when given) with a JSON {"error", "reason"} body."""
    status = r.status_code if isinstance(r, httpx.Response) else r.status
    text = r.text if isinstance(r, httpx.Response) else r.read().decode(errors="replace")
    assert 400 <= status < 500, f"{status}: {text}"
    if statuses:
        assert status in statuses, f"{status}: {text}"
    body = json.loads(text)
    assert isinstance(body, dict) and set(body) == {"error", "reason"}, text
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["reason"], str) and body["reason"]
    return body


def post_raw(w: World, path: str, content: bytes, content_type: str | None = "application/json") -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return w.kiosk.post(path, content=content, headers=headers)


KIOSK_PATHS = ["/v1/auth", "/v1/sign", "/v1/collect", "/v1/password", "/v1/cancel"]

MALFORMED: list[Any] = [
    pytest.param(b"", id="empty"),
    pytest.param(b"{", id="unterminated"),
    pytest.param(b'{"personalNumber": ', id="cut-off"),
    pytest.param(b"not json", id="text"),
    pytest.param(b'{"orderRef": "x",}', id="trailing-comma"),
    pytest.param(b"{'orderRef': 'x'}", id="single-quotes"),
    pytest.param(b"null", id="null"),
    pytest.param(b"[]", id="array"),
    pytest.param(b'"orderRef"', id="string"),
    pytest.param(b"12345678901", id="number"),
    pytest.param(b'{"orderRef": NaN, "personalNumber": Infinity}', id="nan"),
    pytest.param(b'{"orderRef": "\\ud800", "personalNumber": "\\udfff"}', id="lone-surrogate"),
    pytest.param(
        b'{"orderRef": "\xff\xfe", "personalNumber": "\xc3"}',
        id="not-utf8",
    ),
    pytest.param(
        # Deep, but inside the JSON routes' 64 KiB body limit (past it the answer is 413).
        b'{"orderRef": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
        id="deeply-nested",
    ),
]


@pytest.mark.parametrize("body", MALFORMED)
@pytest.mark.parametrize("path", KIOSK_PATHS)
def test_malformed_json_is_refused(world: World, path: str, body: bytes) -> None:
    with unchanged(world):
        refused(post_raw(world, path, body), 400)


@pytest.mark.parametrize("path", ["/v1/auth", "/v1/collect", "/v1/password"])
def test_a_body_without_a_json_content_type_is_refused(world: World, path: str) -> None:
    payload = json.dumps({"personalNumber": world.number, "orderRef": world.ref, "password": PASSWORD}).encode()
    with unchanged(world):
        refused(post_raw(world, path, payload, "text/plain"), 400, 415)
        refused(post_raw(world, path, payload, None), 400, 415)


def _wrong(w: World) -> list[tuple[str, dict[str, Any]]]:
    number, ref = w.number, w.ref
    doc = {"name": "avtale.txt", "contentType": "text/plain", "content": base64.b64encode(b"hei").decode()}
    return [
        # wrong types
        ("/v1/auth", {"personalNumber": int(number)}),
        ("/v1/auth", {"personalNumber": [number]}),
        ("/v1/auth", {"personalNumber": {"value": number}}),
        ("/v1/auth", {"personalNumber": None}),
        ("/v1/auth", {"personalNumber": True}),
        ("/v1/auth", {"personalNumber": number, "userVisibleData": 42}),
        ("/v1/auth", {"personalNumber": number, "userVisibleData": ["a"]}),
        ("/v1/auth", {"personalNumber": number, "method": "sms"}),
        ("/v1/auth", {"personalNumber": number, "method": None}),
        ("/v1/collect", {"orderRef": 1}),
        ("/v1/collect", {"orderRef": None}),
        ("/v1/collect", {"orderRef": [ref]}),
        ("/v1/cancel", {"orderRef": {"ref": ref}}),
        ("/v1/cancel", {"orderRef": False}),
        ("/v1/password", {"orderRef": ref, "password": 12345678}),
        ("/v1/password", {"orderRef": ref, "password": None}),
        ("/v1/password", {"orderRef": ref, "password": [PASSWORD]}),
        ("/v1/password", {"orderRef": [ref], "password": PASSWORD}),
        ("/v1/sign", {"personalNumber": number, "userVisibleData": "Avtale", "documents": "avtale.txt"}),
        ("/v1/sign", {"personalNumber": number, "userVisibleData": "Avtale", "documents": [{**doc, "content": 7}]}),
        ("/v1/sign", {"personalNumber": number, "userVisibleData": "Avtale", "documents": [{**doc, "name": None}]}),
        ("/v1/sign", {"personalNumber": number, "userVisibleData": 1, "documents": [doc]}),
        # missing fields
        ("/v1/auth", {}),
        ("/v1/auth", {"userVisibleData": "Innlogging"}),
        ("/v1/collect", {}),
        ("/v1/cancel", {}),
        ("/v1/password", {"orderRef": ref}),
        ("/v1/password", {"password": PASSWORD}),
        ("/v1/sign", {"personalNumber": number, "userVisibleData": "Avtale"}),
        ("/v1/sign", {"personalNumber": number, "documents": [doc]}),
        ("/v1/sign", {"personalNumber": number, "userVisibleData": "Avtale", "documents": [{"name": "x"}]}),
        # extra fields
        ("/v1/auth", {"personalNumber": number, "extra": 1}),
        ("/v1/auth", {"personalNumber": number, "personal_number": number}),
        ("/v1/collect", {"orderRef": ref, "status": "complete"}),
        ("/v1/cancel", {"orderRef": ref, "force": True}),
        ("/v1/password", {"orderRef": ref, "password": PASSWORD, "attemptsLeft": 99}),
        ("/v1/sign", {"personalNumber": number, "userVisibleData": "A", "documents": [{**doc, "sha256": "0" * 64}]}),
        # out of range
        ("/v1/auth", {"personalNumber": "1" * 65}),
        ("/v1/auth", {"personalNumber": number, "userVisibleData": "x" * 2001}),
        ("/v1/collect", {"orderRef": "r" * 65}),
        ("/v1/password", {"orderRef": ref, "password": "p" * 257}),
        ("/v1/sign", {"personalNumber": number, "userVisibleData": "", "documents": [doc]}),
        ("/v1/sign", {"personalNumber": number, "userVisibleData": "Avtale", "documents": []}),
        ("/v1/sign", {"personalNumber": number, "userVisibleData": "Avtale", "documents": [doc] * 11}),
        ("/v1/sign", {"personalNumber": number, "userVisibleData": "Avtale", "documents": [{**doc, "name": ""}]}),
        ("/v1/sign", {"personalNumber": number, "userVisibleData": "A", "documents": [{**doc, "content": "%%%"}]}),
        ("/v1/sign", {"personalNumber": number, "userVisibleData": "A", "documents": [{**doc, "content": ""}]}),
    ]


def test_wrong_types_missing_and_extra_fields_are_refused(world: World) -> None:
    for path, payload in _wrong(world):
        with unchanged(world):
            body = refused(world.kiosk.post(path, json=payload), 400, 422)
        assert "Traceback" not in body["reason"], (path, payload)


@pytest.mark.parametrize("number", INVALID_NUMBERS, ids=repr)
@pytest.mark.parametrize("path", ["/v1/auth", "/v1/sign"])
def test_every_invalid_number_of_the_table_is_refused(world: World, path: str, number: str) -> None:
    payload: dict[str, Any] = {"personalNumber": number}
    if path == "/v1/sign":
        payload["userVisibleData"] = "Avtale"
        payload["documents"] = [{"name": "a.txt", "contentType": "text/plain", "content": "aGVp"}]
    with unchanged(world):
        body = refused(world.kiosk.post(path, json=payload), 400)
    assert body["error"] == "invalidPersonalNumber"


@pytest.mark.parametrize(
    "number",
    ["", " ", "1389724809８", "١٣٨٩٧٢٤٨٠٩٨", "13897248098\n", "+4713897248098", "13.89.72.48098", "1e10"],
    ids=repr,
)
def test_other_bad_numbers_are_refused(world: World, number: str) -> None:
    with unchanged(world):
        assert refused(world.kiosk.post("/v1/auth", json={"personalNumber": number}), 400)["error"] in (
            "invalidPersonalNumber",
            "invalidParameters",
        )


def test_a_synthetic_number_is_refused_without_test_numbers(tmp_path: Path) -> None:
    """TILLIT_ALLOW_TEST_NUMBERS off: month + 80 is refused with a reason, and nothing is stored."""
    d = make_daemon(tmp_path / "home")
    d.env["TILLIT_ALLOW_TEST_NUMBERS"] = "0"
    number = synthetic_number()
    result = d.run(
        "tillit-signer", "customers", "add", "--personal-number", number, "--name", "Kari Nordmann",
        "--mobile", "+4791234567", "--email", "kari@example.no", "--password-stdin",
        stdin=PASSWORD + "\n", check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "synthetic" in result.stderr
    d.start()
    try:
        with d.kiosk() as k:
            assert refused(k.post("/v1/auth", json={"personalNumber": number}), 400)["error"] == "invalidPersonalNumber"
    finally:
        d.stop()


@pytest.mark.parametrize(
    "ref",
    ["00000000-0000-0000-0000-000000000000", "no-such-order", "", " ", "../../etc/passwd", "' OR 1=1 --", "blå"],
    ids=repr,
)
@pytest.mark.parametrize("path", ["/v1/collect", "/v1/cancel", "/v1/password"])
def test_unknown_order_refs_are_404(world: World, path: str, ref: str) -> None:
    with unchanged(world):
        payload = {"orderRef": ref, "password": PASSWORD} if path == "/v1/password" else {"orderRef": ref}
        refused(world.kiosk.post(path, json=payload), 404)


@pytest.mark.parametrize(
    "path", ["/v1/orders/{ref}/documents/abc", "/v1/orders/{ref}/documents/-1", "/v1/orders/{ref}/documents/99",
             "/v1/orders/unknown/documents/0", "/v1/orders/{ref}/documents/99999999999999999999999"]
)  # fmt: skip
def test_bad_document_requests_are_refused(world: World, path: str) -> None:
    with unchanged(world):
        refused(world.kiosk.get(path.format(ref=world.ref)))


# -- oversized bodies ----------------------------------------------------------------------------------


def test_a_content_length_over_the_limit_is_413_before_the_body_is_read(world: World) -> None:
    """The header alone decides: the daemon answers without waiting for a gigabyte."""
    conn = http.client.HTTPConnection("127.0.0.1", world.d.port, timeout=10)
    try:
        with unchanged(world):
            conn.putrequest("POST", "/v1/sign")
            conn.putheader("Authorization", f"Bearer {world.d.kiosk_token}")
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(10**9))
            conn.endheaders(b'{"personalNumber": "')
            refused(conn.getresponse(), 413)
    finally:
        conn.close()


@pytest.mark.parametrize("path", ["/v1/auth", "/v1/sign", "/v1/password"])
def test_an_oversized_body_is_413(world: World, path: str) -> None:
    big = json.dumps({"personalNumber": world.number, "orderRef": world.ref, "pad": "x" * (16 * MAX_DOCUMENT)})
    with unchanged(world):
        refused(post_raw(world, path, big.encode()), 413)


def test_an_oversized_document_is_413(world: World) -> None:
    content = base64.b64encode(b"%PDF" + b"\0" * MAX_DOCUMENT).decode()
    payload = {
        "personalNumber": world.number,
        "userVisibleData": "Avtale",
        "documents": [{"name": "stor.pdf", "contentType": "application/pdf", "content": content}],
    }
    with unchanged(world):
        refused(world.kiosk.post("/v1/sign", json=payload), 413)


def test_a_bad_content_length_is_refused(world: World) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", world.d.port, timeout=10)
    try:
        with unchanged(world):
            conn.putrequest("POST", "/v1/auth")
            conn.putheader("Authorization", f"Bearer {world.d.kiosk_token}")
            conn.putheader("Content-Length", "-5")
            conn.endheaders()
            response = conn.getresponse()
            assert 400 <= response.status < 500
    finally:
        conn.close()


def test_an_oversized_chunked_body_is_413(world: World) -> None:
    body = json.dumps({"personalNumber": fresh_adult()}).encode()[:-1] + b" " * (16 * MAX_DOCUMENT) + b"}"

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 65536):
            yield body[i : i + 65536]

    with unchanged(world):
        r = world.kiosk.post("/v1/auth", content=chunks(), headers={"Content-Type": "application/json"})
        refused(r, 413)


# -- the phone's endpoints -------------------------------------------------------------------------------


def _signed(w: World, method: str, path: str, body: bytes) -> httpx.Response:
    headers = w.phone.signed_headers(method, path, body)
    headers["Content-Type"] = "application/json"
    return w.phone.http.request(method, w.phone.server + path, content=body, headers=headers)


def test_bad_approval_bodies_are_refused(world: World) -> None:
    path = f"/v1/app/requests/{world.ref}"
    good_signature = sign_bytes(world.phone.key, approval_message({"orderRef": world.ref}, "approve"))
    bodies = [
        b"",
        b"{",
        b"null",
        b"[]",
        b'{"decision": "approve"}',
        b'{"signature": "AAAA"}',
        json.dumps({"decision": "maybe", "signature": good_signature}).encode(),
        json.dumps({"decision": "APPROVE", "signature": good_signature}).encode(),
        json.dumps({"decision": "approve", "signature": "not base64!"}).encode(),
        json.dumps({"decision": "approve", "signature": 12}).encode(),
        json.dumps({"decision": "approve", "signature": ""}).encode(),
        json.dumps({"decision": "approve", "signature": "AAAA"}).encode(),
        json.dumps({"decision": "approve", "signature": good_signature, "biometric": "yes please"}).encode(),
        json.dumps({"decision": "approve", "signature": good_signature, "orderRef": "other"}).encode(),
        # Far longer than a signature, inside the 4 KiB a phone's request may carry (past it: 413).
        json.dumps({"decision": "approve", "signature": base64.b64encode(b"\0" * 2000).decode()}).encode(),
    ]
    for body in bodies:
        with unchanged(world, attempts_audited=True):
            refused(_signed(world, "POST", path, body), 400, 409)


@pytest.mark.parametrize("ref", ["00000000-0000-0000-0000-000000000000", "x", "Z" * 64])
def test_approving_an_unknown_order_is_404(world: World, ref: str) -> None:
    body = json.dumps({"decision": "approve", "signature": base64.b64encode(b"x" * 70).decode()}).encode()
    with unchanged(world, attempts_audited=True):
        refused(_signed(world, "POST", f"/v1/app/requests/{ref}", body), 404)


@pytest.mark.parametrize("wait", ["abc", "-1", "61", "nan", "inf", "1e400", ""])
def test_a_bad_long_poll_wait_is_400(world: World, wait: str) -> None:
    with unchanged(world, attempts_audited=True):
        refused(_signed(world, "GET", f"/v1/app/requests?wait={wait}", b""), 400)


def test_unsigned_or_badly_signed_phone_requests_are_401(world: World) -> None:
    path = "/v1/app/requests"
    good = world.phone.signed_headers("GET", path, b"")
    device, stamp, nonce, signature = (good[h] for h in ("X-Tillit-Device", "X-Tillit-Timestamp", "X-Tillit-Nonce",
                                                          "X-Tillit-Signature"))  # fmt: skip
    variants = [
        {},
        {**good, "X-Tillit-Signature": ""},
        {**good, "X-Tillit-Signature": "%%%"},
        {**good, "X-Tillit-Signature": base64.b64encode(b"\1" * 70).decode()},
        {**good, "X-Tillit-Timestamp": "yesterday"},
        {**good, "X-Tillit-Timestamp": str(int(stamp) - 3600)},
        {**good, "X-Tillit-Device": "00000000-0000-0000-0000-000000000000"},
        {**good, "X-Tillit-Device": "d" * 65},
        {**good, "X-Tillit-Nonce": "n" * 65},
        {k: v for k, v in good.items() if k != "X-Tillit-Nonce"},
    ]
    assert device and nonce and signature
    for headers in variants:
        with unchanged(world, attempts_audited=True):
            refused(world.phone.http.get(world.phone.server + path, headers=headers), 401)
    # Signed for another path, or another body: refused.
    with unchanged(world, attempts_audited=True):
        refused(world.phone.http.get(world.phone.server + path + "?wait=1", headers=good), 401)


# -- tillit-signer customers add ---------------------------------------------------------------------------


def _add(d: Daemon, number: str, mobile: str = "+4791234567", password: str = PASSWORD, *extra: str) -> Any:
    return d.run(
        "tillit-signer", "customers", "add", "--personal-number", number, "--name", "Ola Nordmann",
        "--mobile", mobile, "--email", "ola@example.no", "--password-stdin", *extra,
        stdin=password + "\n", check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    "number,mobile,password,says",
    [
        ("13897248099", "+4791234567", PASSWORD, "check digits"),
        ("1389724809", "+4791234567", PASSWORD, "11 digits"),
        ("abcdefghijk", "+4791234567", PASSWORD, "digits"),
        ("30828510041", "+4791234567", PASSWORD, "date"),
        (None, "+4691234567", PASSWORD, "+47"),
        (None, "+47912345", PASSWORD, "+47"),
        (None, "91234567", PASSWORD, "+47"),
        (None, "+4791234567", "kort", "at least"),
        (None, "+4791234567", "passord1", "common"),
        (None, "+4791234567", "", ""),
        # Ages from this year, not fixed numbers: a fixed child of ten turns 13 in three years.
        (synthetic_number(years_ago(10)), "+4791234567", PASSWORD, "13"),  # a child of 9-10
        ("05855462003", "+4791234567", PASSWORD, "plausible"),  # born 1854
        (synthetic_number(years_ago(15, 6, 15)), "+4791234567", PASSWORD, "guardian"),  # 14-15
    ],
)
def test_customers_add_refuses_bad_input_in_one_line(
    world: World, number: str | None, mobile: str, password: str, says: str
) -> None:
    number = number or fresh_adult()
    with unchanged(world):
        result = _add(world.d, number, mobile, password)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith("tillit-signer: ") and result.stderr.count("\n") == 1, result.stderr
        assert says.lower() in result.stderr.lower()
        assert password not in result.stderr or not password
        assert result.stdout == ""


def test_customers_commands_refuse_unknown_and_bad_numbers_in_one_line(world: World) -> None:
    for args in (
        ("customers", "show", "13897248099", "--json"),
        ("customers", "show", fresh_adult(), "--json"),
        ("customers", "unlock", "abc"),
        ("customers", "unlock", fresh_adult()),
        ("kiosks", "revoke", "no such kiosk"),
    ):
        with unchanged(world):
            result = world.d.run("tillit-signer", *args, check=False)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith("tillit-signer: ") and result.stderr.count("\n") == 1, result.stderr


def test_a_customer_cannot_be_enrolled_twice(world: World) -> None:
    with unchanged(world):
        result = _add(world.d, world.number)
    assert result.returncode == 1 and "already enrolled" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_path_with_a_slash_too_many_is_404_not_a_redirect_to_the_clients_host(world: World) -> None:
    """Before, POST /v1/collect/ was a 307 whose Location was built from the Host header:
    `Host: evil.example` sent the client to http://evil.example/v1/collect."""
    with unchanged(world):
        r = world.kiosk.post(
            "/v1/collect/", json={"orderRef": world.ref}, headers={"Host": "evil.example"}, follow_redirects=False
        )
        refused(r, 404)
    assert "location" not in r.headers

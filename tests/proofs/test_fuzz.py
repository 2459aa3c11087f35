"""Fuzzing: schemathesis over every operation of the daemon's own /openapi.json (no 5xx, a refused
request changes no state, and every answer is one the document describes: tests/conformance.py),
hypothesis over the challenge's canonical encoding, and hostile PDFs in sign orders (4xx, the daemon
stays healthy, nothing stored)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from asn1crypto import core, tsp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import conformance
from tests.daemon import Daemon, make_daemon
from tests.proofs import pdfs
from tests.proofs.common import FULL, audit_verify, database, enrol_many, figures, log_problems
from tillit.phone.client import PhoneClient
from tillit.signer.wire import approval_message, canonical_json

pytestmark = pytest.mark.integration

EXAMPLES = 300 if FULL else 15
# Refusals the daemon records on purpose (security events), not state changes.
# Refused attempts are audited on purpose (invariant 5): the one change a refusal may make.
SECURITY_EVENTS = ("approval.rejected", "device.replay", "device.refused", "device.unlock_refused")
COUNTS = {"cases": 0, "rejected": 0, "operations": 0}


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = make_daemon(
        tmp_path_factory.mktemp("fuzz") / "home",
        TILLIT_RATE_ORDERS_PER_NUMBER="0",
        TILLIT_RATE_ORDERS_PER_KIOSK="0",
    )
    daemon.start()
    yield daemon
    daemon.stop()
    figures("fuzz", **COUNTS)


@pytest.fixture(scope="module")
def people(d: Daemon) -> Iterator[list[tuple[str, PhoneClient]]]:
    made = enrol_many(d, 2)
    yield made
    for _, phone in made:
        phone.close()


def refusal_reason(response: httpx.Response) -> str:
    """The reason a refusal gives: `reason` of the JSON error body, or the statusString of an RFC 3161
    rejection (the TSA answers in its protocol's own format)."""
    if response.headers.get("content-type", "").startswith("application/timestamp-reply"):
        try:  # asn1crypto's TimeStampResp insists on a token: read the status on its own
            status = tsp.PKIStatusInfo.load(core.Sequence.load(response.content)[0].dump())
            return " ".join(str(s) for s in (status["status_string"].native or []))
        except (ValueError, TypeError, KeyError, IndexError):
            return ""
    try:
        error = response.json()
    except ValueError:
        return ""
    return str(error.get("reason") or "") if isinstance(error, dict) else ""


def state(d: Daemon) -> str:
    """A digest of everything a request could change (security events aside)."""
    digest = hashlib.sha256()
    with database(d) as db:
        for table, order in (
            ("orders", "ref"),
            ("customers", "id"),
            ("devices", "id"),
            ("kiosks", "id"),
            ("documents", "order_ref, idx"),
            ("agreements", "id"),
            ("activations", "id"),
            ("code_devices", "serial"),
            ("customer_sessions", "id"),
            ("outbox", "id"),
            ("receipts", "order_ref"),
        ):
            for row in db.execute(f"SELECT * FROM {table} ORDER BY {order}"):  # noqa: S608 - fixed names
                digest.update(repr(row).encode())
        marks = ",".join("?" * len(SECURITY_EVENTS))
        for row in db.execute(
            f"SELECT seq, event, subject FROM audit WHERE event NOT IN ({marks}) ORDER BY seq",  # noqa: S608
            SECURITY_EVENTS,
        ):
            digest.update(repr(row).encode())
    return digest.hexdigest()


@pytest.mark.timeout(3600 if FULL else 600)
def test_every_operation_of_the_openapi_document(d: Daemon, people: list[tuple[str, PhoneClient]]) -> None:
    schema = schemathesis.openapi.from_url(d.url + "/openapi.json")
    number, phone = people[0]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    failures: list[str] = []
    kiosk_headers = {"Authorization": f"Bearer {d.kiosk_token}"}
    with httpx.Client(base_url=d.url, timeout=30) as http:
        for operation in operations:
            COUNTS["operations"] += 1

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
            )
            @given(case=operation.as_strategy(), as_customer=st.booleans(), signed=st.booleans())
            def run(case: Any, as_customer: bool, signed: bool) -> None:
                kwargs = case.as_transport_kwargs(base_url=d.url)
                headers = dict(kwargs.get("headers") or {})
                if case.path.startswith("/v1/app/"):
                    if signed:  # a correctly signed device request, so the body itself is fuzzed
                        body = kwargs.get("content") or (
                            json.dumps(kwargs["json"]).encode() if "json" in kwargs else b""
                        )
                        path = httpx.URL(kwargs["url"]).raw_path.decode()
                        headers.update(phone.signed_headers(case.method.upper(), path, body))
                        kwargs.pop("json", None)
                        kwargs["content"] = body
                elif signed:
                    headers.update(kiosk_headers)
                if as_customer and "personalNumber" in str(kwargs.get("json", "")):
                    body = kwargs["json"]
                    if isinstance(body, dict):
                        body["personalNumber"] = number
                # The bearer schemes' generated "Bearer <token>" may end in whitespace, which no client sends.
                kwargs["headers"] = {k: v.strip() if isinstance(v, str) else v for k, v in headers.items()}
                kwargs.pop("base_url", None)
                if isinstance(kwargs.get("data"), bytes):  # a binary body (DER), in httpx's own word
                    kwargs["content"] = kwargs.pop("data")
                cookies = kwargs.pop("cookies", None)
                if cookies:
                    headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
                before = state(d)
                response = http.request(**kwargs)
                COUNTS["cases"] += 1
                failures.extend(conformance.problems(schema, response, case))
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.path}: {response.status_code} {response.text[:200]}")
                elif response.status_code >= 400:
                    COUNTS["rejected"] += 1
                    if state(d) != before:
                        failures.append(
                            f"{case.method} {case.path}: refused with {response.status_code} but changed state"
                        )
                    if not refusal_reason(response) and response.status_code != 405:
                        failures.append(f"{case.method} {case.path}: {response.status_code} without a reason")

            run()
    assert not failures, failures[:10]
    assert httpx.get(d.url + "/healthz").status_code == 200
    assert not [line for line in log_problems(d) if "ASGI" in line or "Internal Server Error" in line]
    audit_verify(d)


# -- the challenge's canonical encoding ------------------------------------------------------------

TEXT = st.text(min_size=0, max_size=40)
CHALLENGES = st.fixed_dictionaries(
    {
        "v": st.just(1),
        "kind": st.sampled_from(["auth", "sign", "reset"]),
        "orderRef": st.uuids().map(str),
        "kiosk": st.fixed_dictionaries({"id": st.uuids().map(str), "name": TEXT}),
        "userVisibleData": TEXT,
        "documents": st.lists(
            st.fixed_dictionaries({"name": TEXT, "sha256": st.binary(min_size=32, max_size=32).map(bytes.hex)}),
            max_size=3,
        ),
        "nonce": st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=8, max_size=32),
        "expiresAt": st.integers(min_value=0, max_value=2**40),
    }
)


def _shuffled(value: Any, rnd: Any) -> Any:
    if isinstance(value, dict):
        keys = list(value)
        rnd.shuffle(keys)
        return {k: _shuffled(value[k], rnd) for k in keys}
    if isinstance(value, list):
        return [_shuffled(v, rnd) for v in value]
    return value


@settings(max_examples=500 if FULL else 100, deadline=None)
@given(challenge=CHALLENGES, rnd=st.randoms(use_true_random=False))
def test_the_canonical_encoding_is_deterministic_and_independent_of_key_order(
    challenge: dict[str, Any], rnd: Any
) -> None:
    encoded = canonical_json(challenge)
    assert canonical_json(_shuffled(challenge, rnd)) == encoded
    assert canonical_json(json.loads(encoded)) == encoded  # a round trip changes nothing
    assert encoded.decode("utf-8")
    for decision in ("approve", "decline"):
        assert approval_message(challenge, decision).endswith(b"\n" + encoded)
    assert approval_message(challenge, "approve") != approval_message(challenge, "decline")


@settings(max_examples=500 if FULL else 100, deadline=None)
@given(a=CHALLENGES, b=CHALLENGES)
def test_distinct_challenges_encode_distinctly(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert (canonical_json(a) == canonical_json(b)) == (a == b)
    assert (approval_message(a, "approve") == approval_message(b, "approve")) == (a == b)


# -- hostile PDFs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(pdfs.HOSTILE))
def test_hostile_pdfs_are_refused_and_the_daemon_stays_healthy(
    d: Daemon, people: list[tuple[str, PhoneClient]], name: str
) -> None:
    number, _ = people[1]
    content = pdfs.HOSTILE[name]()
    before = state(d)
    with d.kiosk() as k:
        r = k.post(
            "/v1/sign",
            json={
                "personalNumber": number,
                "userVisibleData": "Eg signerer",
                "documents": [
                    {
                        "name": f"{name}.pdf",
                        "contentType": "application/pdf",
                        "content": base64.b64encode(content).decode(),
                    }
                ],
            },
        )
    assert 400 <= r.status_code < 500, (name, r.status_code, r.text[:300])
    assert "PDF" in r.json()["reason"], r.json()
    assert state(d) == before
    assert httpx.get(d.url + "/healthz").status_code == 200
    COUNTS["hostile_pdfs"] = COUNTS.get("hostile_pdfs", 0) + 1


def test_the_well_formed_pdf_the_hostile_ones_are_built_from_is_accepted(
    d: Daemon, people: list[tuple[str, PhoneClient]]
) -> None:
    number, _ = people[1]
    with d.kiosk() as k:
        r = k.post(
            "/v1/sign",
            json={
                "personalNumber": number,
                "userVisibleData": "Eg signerer",
                "documents": [
                    {
                        "name": "ok.pdf",
                        "contentType": "application/pdf",
                        "content": base64.b64encode(pdfs.plain()).decode(),
                    }
                ],
            },
        )
        assert r.status_code == 200, r.text
        k.post("/v1/cancel", json={"orderRef": r.json()["orderRef"]})

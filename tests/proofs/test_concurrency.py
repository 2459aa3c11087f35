"""32 clients at once on loopback: logins, signatures, wrong passwords, declines and cancels.

Each client is a kiosk connection and a phone for a customer of its own, and keeps an exact model
of what its customer's failure count must be. Four clients type exactly five wrong passwords in a
row (their customers must end locked), four exactly four (never locked), the rest mix everything and
type a wrong password only now and then. After every completed order the client sends its
approval again (a new request: 409) and replays the very same HTTP request (401).

Checked: no 5xx at all, no PKCS#11 error in the daemon's log or in `tillit_hsm_errors_total`, every
customer's failure count and lock exactly as modelled, every order completed at most once and
signed once per document, and the HSM asked for exactly one signature by a customer key per
document, one by the service key per completion token and per receipt, and one by the audit key
per checkpoint (no approval used twice). The timestamps and OCSP answers of long-term signatures
are signed by their own keys (`tillit-tsa`, `tillit-ocsp`), counted apart. Quick: 10 s;
TILLIT_FULL_TESTS=1: 60 s.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.daemon import PASSWORD, Daemon, make_daemon
from tests.proofs.common import (
    FULL,
    audit_verify,
    enrol_many,
    figures,
    hsm_errors_total,
    hsm_key_signatures,
    hsm_signatures_total,
    log_problems,
    query,
)
from tillit.phone.client import PhoneClient, sign_bytes
from tillit.signer.wire import AppRequest, approval_message

pytestmark = pytest.mark.integration

CLIENTS = 32
LOCKERS = range(0, 4)  # exactly five wrong in a row
NEAR = range(4, 8)  # exactly four wrong in a row
WRONG = "Feil-Passord-7"
DOCUMENT = b"Avtale om brukskonto\n" * 40


@dataclass
class Client:
    index: int
    number: str
    phone: PhoneClient
    wrong_in_a_row: int = 0
    locked: bool = False
    statuses: Counter[int] = field(default_factory=Counter)
    orders: int = 0
    completed: int = 0
    replays_refused: int = 0
    problems: list[str] = field(default_factory=list)
    budget: int = 0  # wrong passwords still to type (lockers and near-lockers)
    lock_seen: bool = False

    def note(self, response: httpx.Response) -> httpx.Response:
        self.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.problems.append(f"{response.request.method} {response.request.url.path}: {response.status_code}")
        return response


def _request(client: Client, ref: str) -> AppRequest | None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        response = client.note(client.phone.request("GET", "/v1/app/requests?wait=5", timeout=20))
        for r in response.json().get("requests", []):
            if r["orderRef"] == ref:
                return AppRequest.model_validate(r)
    return None


def _approve(client: Client, ref: str, decision: str = "approve") -> tuple[bytes, dict[str, str]] | None:
    request = _request(client, ref)
    if request is None:
        client.problems.append(f"{ref}: the phone never saw it")
        return None
    body = json.dumps(
        {"decision": decision, "signature": sign_bytes(client.phone.key, approval_message(request.challenge, decision))}
    ).encode()
    path = f"/v1/app/requests/{ref}"
    headers = {**client.phone.signed_headers("POST", path, body), "Content-Type": "application/json"}
    response = client.note(client.phone.http.post(client.phone.server + path, content=body, headers=headers))
    if response.status_code != 200:
        client.problems.append(f"{ref}: {decision} got {response.status_code} {response.text}")
        return None
    return body, headers


def _replay(client: Client, ref: str, approval: tuple[bytes, dict[str, str]]) -> None:
    """The same approval again: once as a fresh request (409), once byte for byte (401)."""
    body, headers = approval
    path = f"/v1/app/requests/{ref}"
    again = client.note(
        client.phone.http.post(
            client.phone.server + path,
            content=body,
            headers={**client.phone.signed_headers("POST", path, body), "Content-Type": "application/json"},
        )
    )
    replayed = client.note(client.phone.http.post(client.phone.server + path, content=body, headers=headers))
    if again.status_code == 409 and replayed.status_code == 401:
        client.replays_refused += 2
    else:
        client.problems.append(f"{ref}: approval reused: {again.status_code} / {replayed.status_code}")


def _password(client: Client, k: httpx.Client, ref: str, right: bool) -> dict[str, Any]:
    response = client.note(k.post("/v1/password", json={"orderRef": ref, "password": PASSWORD if right else WRONG}))
    if response.status_code != 200:
        client.problems.append(f"{ref}: password got {response.status_code} {response.text}")
        return {}
    answer = dict(response.json())
    if right and answer.get("status") == "complete":
        client.wrong_in_a_row = 0
        client.completed += 1
    elif not right:
        client.wrong_in_a_row += 1
        if client.wrong_in_a_row >= 5:
            client.locked = True
            if answer.get("hintCode") != "passwordLocked":
                client.problems.append(f"{ref}: the fifth wrong password did not lock: {answer}")
        elif answer.get("attemptsLeft") != 5 - client.wrong_in_a_row:
            client.problems.append(f"{ref}: attemptsLeft {answer.get('attemptsLeft')} after {client.wrong_in_a_row}")
    return answer


def _one_order(client: Client, k: httpx.Client, rng: random.Random) -> None:
    kind = rng.choice(["auth", "auth", "sign"])
    if kind == "sign":
        body: dict[str, Any] = {
            "personalNumber": client.number,
            "userVisibleData": "Eg signerer",
            "documents": [
                {"name": "avtale.txt", "contentType": "text/plain", "content": base64.b64encode(DOCUMENT).decode()}
            ],
        }
    else:
        body = {"personalNumber": client.number}
    started = client.note(k.post(f"/v1/{kind}", json=body))
    if started.status_code != 200:
        client.problems.append(f"start got {started.status_code} {started.text}")
        return
    ref = started.json()["orderRef"]
    client.orders += 1
    if client.locked:
        state = client.note(k.post("/v1/collect", json={"orderRef": ref})).json()
        if state.get("hintCode") != "passwordLocked":
            client.problems.append(f"{ref}: a locked customer's order is {state}")
        return
    action = rng.random()
    if client.budget == 0 and action < 0.1:
        client.note(k.post("/v1/cancel", json={"orderRef": ref}))
        return
    if client.budget == 0 and action < 0.2:
        _approve(client, ref, "decline")
        return
    approval = _approve(client, ref)
    if approval is None:
        return
    if client.budget == 0 and action < 0.3:
        client.note(k.post("/v1/cancel", json={"orderRef": ref}))
        return
    wrongs = min(client.budget, rng.choice([1, 2, 3])) if client.budget else (1 if action < 0.45 else 0)
    for _ in range(wrongs):
        answer = _password(client, k, ref, right=False)
        if client.budget:
            client.budget -= 1
        if answer.get("status") == "failed":
            return
    if client.index in LOCKERS or client.index in NEAR:
        client.note(k.post("/v1/cancel", json={"orderRef": ref}))  # walk away with the count as it is
        return
    answer = _password(client, k, ref, right=True)
    if answer.get("status") == "complete":
        _replay(client, ref, approval)


def _run(client: Client, d: Daemon, until: float, seed: int) -> None:
    rng = random.Random(seed)
    limits = httpx.Limits(max_connections=4)
    with httpx.Client(
        base_url=d.url, headers={"Authorization": f"Bearer {d.kiosk_token}"}, timeout=60, limits=limits
    ) as k:
        while time.monotonic() < until:
            if client.locked and client.lock_seen:
                time.sleep(0.2)
                continue
            if client.locked:
                client.lock_seen = True  # one more order: it must fail at once with passwordLocked
            elif client.index in NEAR and client.budget == 0:
                time.sleep(0.2)
                continue
            try:
                _one_order(client, k, rng)
            except (httpx.HTTPError, AssertionError) as e:
                client.problems.append(f"{type(e).__name__}: {e}")


def _load(tmp_path: Path, seconds: float, section: str) -> None:
    d = make_daemon(
        tmp_path / "home",
        TILLIT_RATE_ORDERS_PER_NUMBER="0",
        TILLIT_RATE_ORDERS_PER_KIOSK="0",
        TILLIT_AUDIT_CHECKPOINT_EVERY="0",  # every HSM signature below is a token or a document
        TILLIT_AUDIT_CHECKPOINT_SECONDS="0",
    )
    people = enrol_many(d, CLIENTS)
    d.start()
    clients = [Client(i, n, p) for i, (n, p) in enumerate(people)]
    for c in clients:
        c.budget = 5 if c.index in LOCKERS else 4 if c.index in NEAR else 0
    try:
        until = time.monotonic() + seconds
        threads = [threading.Thread(target=_run, args=(c, d, until, 1000 + c.index)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 120)
        metrics = httpx.get(d.url + "/metrics").text
        problems = [p for c in clients for p in c.problems]
        statuses = sum((c.statuses for c in clients), Counter())
        rows = {
            r[0]: (r[1], r[2])
            for r in query(d, "SELECT personal_number, failed_passwords, password_locked FROM customers")
        }
        for c in clients:
            failed, locked = rows[c.number]
            if (failed, bool(locked)) != (c.wrong_in_a_row, c.locked):
                problems.append(
                    f"client {c.index}: store says {failed} wrong/locked={locked}, model {c.wrong_in_a_row}/{c.locked}"
                )
        for c in clients:
            if c.index in LOCKERS and not c.locked:
                problems.append(f"client {c.index} never got to five wrong passwords")
            if c.index in NEAR and c.wrong_in_a_row != 4:
                problems.append(f"client {c.index} ended at {c.wrong_in_a_row} wrong passwords, not 4")
        completed = query(d, "SELECT COUNT(*) FROM orders WHERE status='complete'")[0][0]
        twice = query(
            d, "SELECT subject, COUNT(*) FROM audit WHERE event='order.completed' GROUP BY subject HAVING COUNT(*) > 1"
        )
        documents = query(d, "SELECT COUNT(*) FROM audit WHERE event='signature.created'")[0][0]
        unsigned = query(d, "SELECT COUNT(*) FROM orders WHERE kind='sign' AND status='complete' AND signatures != 1")[
            0
        ][0]
        checkpoints = query(d, "SELECT COUNT(*) FROM audit_checkpoints")[0][0]
        receipts = query(d, "SELECT COUNT(*) FROM receipts")[0][0]
        hsm_signatures = hsm_signatures_total(metrics)
        by_key = hsm_key_signatures(metrics)
        figures(
            section,
            clients=CLIENTS,
            seconds=seconds,
            requests=sum(statuses.values()),
            statuses=dict(sorted(statuses.items())),
            orders=sum(c.orders for c in clients),
            completed=completed,
            documents_signed=documents,
            approvals_replayed_and_refused=sum(c.replays_refused for c in clients),
            customers_locked=sum(c.locked for c in clients),
            hsm_signatures=int(hsm_signatures),
            hsm_signatures_by_key={k: int(v) for k, v in by_key.items()},
            hsm_errors=hsm_errors_total(metrics),
            problems=len(problems),
        )
        assert not problems, problems[:10]
        assert not any(s >= 500 for s in statuses), statuses
        assert hsm_errors_total(metrics) == 0
        assert not log_problems(d), log_problems(d)[:5]
        assert not twice, twice
        assert unsigned == 0
        assert by_key.get("customer", 0) == documents, (by_key, documents)
        assert by_key.get("tillit-service-jwt", 0) == completed + receipts, (by_key, completed, receipts)
        assert by_key.get("tillit-audit", 0) == checkpoints, (by_key, checkpoints)
        assert hsm_signatures == sum(by_key.values()), (hsm_signatures, by_key)
        assert sum(c.completed for c in clients) == completed
        assert completed > CLIENTS
        audit_verify(d)
    finally:
        d.stop()
        for c in clients:
            c.phone.close()


def test_thirty_two_clients_for_ten_seconds(tmp_path: Path) -> None:
    _load(tmp_path, 10, "concurrency (quick)")


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(not FULL, reason="the full concurrency run: TILLIT_FULL_TESTS=1")
def test_thirty_two_clients_for_sixty_seconds(tmp_path: Path) -> None:
    _load(tmp_path, 60, "concurrency (full)")

"""Attacks on the daemon (invariants 1 and 2, and what a stolen kiosk token can learn).

Replayed device requests, an approval moved to another order or customer, a mutation of every field
of the challenge, a revoked kiosk token, another customer's device, guessed order refs, a flood of
push requests to one customer (rate-limited), and enumerating numbers to learn who is a customer.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import statistics
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.daemon import Daemon, make_daemon
from tests.factories import fresh_adult
from tests.proofs.common import audit_verify, enrol_many, figures, query, request_for
from tillit.phone.client import PhoneClient, sign_bytes
from tillit.signer.wire import PinRegistration, approval_message, request_message

pytestmark = pytest.mark.integration

PER_NUMBER = 10
PER_KIOSK = 60


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = make_daemon(
        tmp_path_factory.mktemp("attacks") / "home",
        TILLIT_RATE_ORDERS_PER_NUMBER=str(PER_NUMBER),
        TILLIT_RATE_ORDERS_PER_KIOSK=str(PER_KIOSK),
    )
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def people(d: Daemon) -> Iterator[list[tuple[str, PhoneClient]]]:
    made = enrol_many(d, 10)
    yield made
    for _, phone in made:
        phone.close()


def new_kiosk(d: Daemon, name: str) -> httpx.Client:
    token = d.run("tillit-signer", "kiosks", "add", "--name", name).stdout.strip()
    return httpx.Client(base_url=d.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def start(k: httpx.Client, number: str, sign: bool = False) -> str:
    if sign:
        docs = [
            {"name": "avtale.txt", "contentType": "text/plain", "content": base64.b64encode(b"Avtale\n").decode()},
            {"name": "vedlegg.txt", "contentType": "text/plain", "content": base64.b64encode(b"Vedlegg\n").decode()},
        ]
        r = k.post("/v1/sign", json={"personalNumber": number, "userVisibleData": "Lån 100 000 kr", "documents": docs})
    else:
        r = k.post("/v1/auth", json={"personalNumber": number})
    assert r.status_code == 200, r.text
    return str(r.json()["orderRef"])


def post_decision(
    phone: PhoneClient, ref: str, challenge: dict[str, Any], decision: str = "approve", device: str | None = None
) -> httpx.Response:
    body = json.dumps({"decision": decision, "signature": sign_bytes(phone.key, approval_message(challenge, decision))})
    path = f"/v1/app/requests/{ref}"
    headers = {**phone.signed_headers("POST", path, body.encode()), "Content-Type": "application/json"}
    if device:
        headers["X-Tillit-Device"] = device
    return phone.http.post(phone.server + path, content=body, headers=headers)


def status(d: Daemon, ref: str) -> str:
    return str(query(d, "SELECT status FROM orders WHERE ref=?", (ref,))[0][0])


# -- replay ----------------------------------------------------------------------------------------


def test_every_replayed_device_request_is_refused(d: Daemon, people: list[tuple[str, PhoneClient]]) -> None:
    number, phone = people[0]
    with d.kiosk() as k:
        ref = start(k, number)
        request = request_for(phone, ref)
        replays: list[int] = []
        # a long-poll, replayed byte for byte
        path = "/v1/app/requests"
        headers = phone.signed_headers("GET", path, b"")
        assert phone.http.get(phone.server + path, headers=headers).status_code == 200
        replays += [phone.http.get(phone.server + path, headers=headers).status_code for _ in range(5)]
        # a decline replayed as it was sent, after an approval went through
        body = json.dumps(
            {"decision": "approve", "signature": sign_bytes(phone.key, approval_message(request.challenge, "approve"))}
        ).encode()
        path = f"/v1/app/requests/{ref}"
        headers = {**phone.signed_headers("POST", path, body), "Content-Type": "application/json"}
        assert phone.http.post(phone.server + path, content=body, headers=headers).status_code == 200
        replays += [phone.http.post(phone.server + path, content=body, headers=headers).status_code for _ in range(5)]
        # the same signature under a new nonce, and a correctly signed request from two minutes ago
        forged = {**headers, "X-Tillit-Nonce": "fresh-" + uuid.uuid4().hex}
        replays.append(phone.http.post(phone.server + path, content=body, headers=forged).status_code)
        old = {**headers, "X-Tillit-Timestamp": str(int(time.time()) - 120)}
        replays.append(phone.http.post(phone.server + path, content=body, headers=old).status_code)
        assert replays == [401] * len(replays)
        assert k.post("/v1/cancel", json={"orderRef": ref}).status_code == 200
    figures("attacks", replayed_requests_refused=len(replays))


def test_a_request_replayed_seconds_later_is_still_refused(d: Daemon, people: list[tuple[str, PhoneClient]]) -> None:
    """A used nonce is remembered as long as its timestamp could still be accepted (the clock skew
    allowed either way), not only for the second after it: a request captured and replayed a few
    seconds later, after the daemon has swept expired nonces, is still a replay."""
    _, phone = people[0]
    path = "/v1/app/requests"
    headers = phone.signed_headers("GET", path, b"")
    assert phone.http.get(phone.server + path, headers=headers).status_code == 200
    time.sleep(2.5)  # the sweep of expired nonces runs about once a second
    assert phone.requests(wait=0).requests == []  # another request of the phone's, which sweeps
    replays = [phone.http.get(phone.server + path, headers=headers).status_code for _ in range(3)]
    assert replays == [401] * 3, replays


def test_a_correctly_signed_request_stamped_outside_the_clock_window_is_refused(
    d: Daemon, people: list[tuple[str, PhoneClient]]
) -> None:
    """The timestamp is signed, so a request cannot be restamped; one signed (by the device's own
    key, with a fresh nonce) two minutes in the past or the future is refused all the same: a
    captured request is good for the clock window only, and nonces are kept that long."""
    _, phone = people[0]
    path = "/v1/app/requests"
    answers = []
    for offset in (-120, 120):
        timestamp, nonce = str(int(time.time()) + offset), uuid.uuid4().hex
        headers = {
            "X-Tillit-Device": phone.device_id,
            "X-Tillit-Timestamp": timestamp,
            "X-Tillit-Nonce": nonce,
            "X-Tillit-Signature": sign_bytes(phone.key, request_message("GET", path, b"", timestamp, nonce)),
        }
        answers.append(phone.http.get(phone.server + path, headers=headers).status_code)
    assert answers == [401, 401], answers
    assert phone.requests(wait=0).requests == []  # a request stamped now still works


# -- an approval moved -----------------------------------------------------------------------------


def test_an_approval_moved_to_another_order_or_customer_does_nothing(
    d: Daemon, people: list[tuple[str, PhoneClient]]
) -> None:
    (number, phone), (other_number, other_phone) = people[1], people[2]
    with d.kiosk() as k:
        first = start(k, number)
        stolen = request_for(phone, first).challenge
        assert k.post("/v1/cancel", json={"orderRef": first}).status_code == 200
        second = start(k, number)
        third = start(k, other_number)
        answers = [
            post_decision(phone, second, stolen).status_code,  # the first order's challenge, on the second
            post_decision(phone, third, stolen).status_code,  # on another customer's order
            post_decision(other_phone, second, stolen).status_code,  # sent by another customer's device
            post_decision(phone, first, stolen).status_code,  # the cancelled order itself: too late
        ]
        assert answers == [400, 404, 404, 409], answers
        assert status(d, second) == "pending" and status(d, third) == "pending"
        for ref in (second, third):
            k.post("/v1/cancel", json={"orderRef": ref})
    figures("attacks", approvals_moved_refused=len(answers))


# -- mutation of every field of the challenge ------------------------------------------------------


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key in value:
            yield from _leaves(value[key], (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, (*path, i))
    else:
        yield path


def _mutations(challenge: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every leaf changed (two ways each), every key removed, a key added, lists reordered and cut."""
    for path in _leaves(challenge):
        name = ".".join(str(p) for p in path)
        for how in ("changed", "retyped"):
            mutated = copy.deepcopy(challenge)
            parent = mutated
            for p in path[:-1]:
                parent = parent[p]
            old = parent[path[-1]]
            if how == "changed":
                new: Any = old + 1 if isinstance(old, int) else (old[:-1] + ("0" if old[-1:] != "0" else "1"))
            else:
                new = str(old) if isinstance(old, int) else None
            parent[path[-1]] = new
            yield f"{name} {how}", mutated
        mutated = copy.deepcopy(challenge)
        parent = mutated
        for p in path[:-1]:
            parent = parent[p]
        if isinstance(parent, dict):
            del parent[path[-1]]
            yield f"{name} removed", mutated
    for key in ("extra", "amount"):
        yield f"{key} added", {**copy.deepcopy(challenge), key: "1 000 000 kr"}
    documents = copy.deepcopy(challenge["documents"])
    yield "documents reordered", {**copy.deepcopy(challenge), "documents": documents[::-1]}
    yield "a document dropped", {**copy.deepcopy(challenge), "documents": documents[:1]}
    yield "kiosk dropped to its name", {**copy.deepcopy(challenge), "kiosk": challenge["kiosk"]["name"]}


def test_a_change_to_any_field_of_the_challenge_is_refused(d: Daemon, people: list[tuple[str, PhoneClient]]) -> None:
    number, phone = people[3]
    with d.kiosk() as k:
        ref = start(k, number, sign=True)
        challenge = request_for(phone, ref).challenge
        fields = {".".join(str(p) for p in path) for path in _leaves(challenge)}
        assert {
            "kiosk.id",
            "kiosk.name",
            "documents.0.name",
            "documents.0.sha256",
            "documents.1.sha256",
            "nonce",
            "expiresAt",
            "v",
            "kind",
            "orderRef",
            "userVisibleData",
        } <= fields
        # bound to this order's own kiosk, as the store knows it, and to its text and documents
        kiosk_id, shown = query(d, "SELECT kiosk_id, user_visible_data FROM orders WHERE ref=?", (ref,))[0]
        assert challenge["kiosk"] == {"id": kiosk_id, "name": "Bergen sentrum"}, challenge["kiosk"]
        assert (challenge["orderRef"], challenge["userVisibleData"], shown) == (ref, "Lån 100 000 kr", "Lån 100 000 kr")
        digests = [hashlib.sha256(b).hexdigest() for b in (b"Avtale\n", b"Vedlegg\n")]
        assert [doc["sha256"] for doc in challenge["documents"]] == digests
        accepted = []
        tried = 0
        for what, mutated in _mutations(challenge):
            tried += 1
            response = post_decision(phone, ref, mutated)
            if response.status_code != 400 or response.json()["error"] != "badSignature":
                accepted.append((what, response.status_code, response.text))
        assert not accepted, accepted
        assert status(d, ref) == "pending"
        assert k.post("/v1/collect", json={"orderRef": ref}).json()["hintCode"] == "outstandingTransaction"
        # the true challenge still works: nothing above consumed or changed the order
        assert post_decision(phone, ref, challenge).status_code == 200
        assert status(d, ref) == "approved"
        k.post("/v1/cancel", json={"orderRef": ref})
    refusals = query(d, "SELECT count(*) FROM audit WHERE event='approval.rejected' AND subject=?", (ref,))[0][0]
    assert refusals >= tried, f"{refusals} of {tried} refused approvals are in the audit log"
    figures("attacks", challenge_fields=len(fields), challenge_mutations_refused=tried)


# -- a revoked kiosk, another customer's device, guessed refs --------------------------------------


def test_a_revoked_kiosk_token_can_do_nothing(d: Daemon, people: list[tuple[str, PhoneClient]]) -> None:
    number, phone = people[4]
    k = new_kiosk(d, "Revoked branch")
    with k:
        ref = start(k, number)
        phone.decide(request_for(phone, ref), "approve")
        d.run("tillit-signer", "kiosks", "revoke", "Revoked branch")
        calls = [
            k.post("/v1/collect", json={"orderRef": ref}),
            k.post("/v1/password", json={"orderRef": ref, "password": "Fjord-Hest-2024"}),
            k.post("/v1/cancel", json={"orderRef": ref}),
            k.post("/v1/auth", json={"personalNumber": number}),
            k.get(f"/v1/orders/{ref}/documents/0"),
        ]
    assert [c.status_code for c in calls] == [401] * len(calls)
    assert status(d, ref) == "approved"  # neither completed nor changed by the revoked kiosk
    assert query(d, "SELECT failed_passwords FROM customers WHERE personal_number=?", (number,))[0][0] == 0


def test_another_customers_device_sees_and_approves_nothing(d: Daemon, people: list[tuple[str, PhoneClient]]) -> None:
    (number, phone), (_, intruder) = people[5], people[6]
    with d.kiosk() as k:
        ref = start(k, number)
        challenge = request_for(phone, ref).challenge
        assert all(r.order_ref != ref for r in intruder.requests().requests)
        own = post_decision(intruder, ref, challenge)  # its own key and id
        posing = post_decision(intruder, ref, challenge, device=phone.device_id)  # the victim's id, its own key
        assert (own.status_code, posing.status_code) == (404, 401)
        assert status(d, ref) == "pending"
        k.post("/v1/cancel", json={"orderRef": ref})


def test_guessed_order_refs_find_nothing(d: Daemon, people: list[tuple[str, PhoneClient]]) -> None:
    number, _ = people[7]
    with d.kiosk() as k:
        real = start(k, number)
    other = new_kiosk(d, "Guessing branch")
    bodies = set()
    guesses = 0
    with other:
        refs = [str(uuid.uuid4()) for _ in range(60)] + [real, real.upper(), real[:-1] + "0", "", "../" + real]
        for ref in refs:
            for path, body in (
                ("/v1/collect", {"orderRef": ref}),
                ("/v1/password", {"orderRef": ref, "password": "x"}),
                ("/v1/cancel", {"orderRef": ref}),
            ):
                r = other.post(path, json=body)
                guesses += 1
                assert r.status_code == 404, (ref, path, r.text)
                bodies.add(r.text)
            if ref:
                r = other.get(f"/v1/orders/{ref}/documents/0")
                guesses += 1
                assert r.status_code == 404
    assert len(bodies) == 1, bodies  # another kiosk's real order looks exactly like a random one
    assert status(d, real) == "pending"
    figures("attacks", order_ref_guesses=guesses)


# -- floods and enumeration ------------------------------------------------------------------------


def audit_entries(d: Daemon) -> int:
    return int(query(d, "SELECT COUNT(*) FROM audit")[0][0])


def test_refused_phone_requests_cannot_fill_the_audit_log(d: Daemon, people: list[tuple[str, PhoneClient]]) -> None:
    """Without a key, a client can make the daemon refuse as often as it likes. Before, every refusal
    was an audit entry and a write transaction: 300 requests naming no device added 300 entries (and
    an HSM-signed checkpoint every 100). Now a request naming no device writes nothing, and refusals
    for a real device (its id without its key) are audited up to 10 a minute."""
    _, phone = people[9]
    path = "/v1/app/requests"

    def forged(device_id: str) -> dict[str, str]:
        return {
            "X-Tillit-Device": device_id,
            "X-Tillit-Timestamp": str(int(time.time())),
            "X-Tillit-Nonce": uuid.uuid4().hex,
            "X-Tillit-Signature": base64.b64encode(b"\1" * 70).decode(),
        }

    before = audit_entries(d)
    for _ in range(100):
        assert phone.http.get(phone.server + path, headers=forged(str(uuid.uuid4()))).status_code == 401
    assert audit_entries(d) == before
    for _ in range(30):
        assert phone.http.get(phone.server + path, headers=forged(phone.device_id)).status_code == 401
    audited = query(
        d,
        "SELECT COUNT(*) FROM audit WHERE seq > ? AND event = 'device.refused' AND subject = ?",
        (before, phone.device_id),
    )[0][0]
    assert 1 <= audited <= 10, audited
    assert phone.requests(wait=0).requests == []  # the phone itself is not locked out by the flood
    figures("attacks", refused_phone_requests_unaudited=130 - audited)


def test_refused_unlocks_cannot_fill_the_audit_log(d: Daemon, people: list[tuple[str, PhoneClient]]) -> None:
    """`POST /v1/app/unlock` is signed by the phone's unlock key, which a client without the phone does
    not have. Before, every refused unlock was an audit entry: 200 requests naming made-up devices
    added 200 entries in 0.4 s (and pushed the log past a checkpoint whenever the sender liked). Now
    one naming a device without a PIN record writes nothing, and refusals for a real device are
    audited within the budget its other refused requests have."""
    _, phone = people[7]
    unlock_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = unlock_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    secret = base64.b64encode(bytes(32)).decode()
    phone.register_pin(PinRegistration(unlockKey=pem.decode(), pinVerifier=secret, serverSecret=secret))
    body = json.dumps({"pinVerifier": secret}).encode()

    def forged(device_id: str) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "X-Tillit-Device": device_id,
            "X-Tillit-Timestamp": str(int(time.time())),
            "X-Tillit-Nonce": uuid.uuid4().hex,
            "X-Tillit-Signature": base64.b64encode(b"\1" * 70).decode(),
        }

    url = phone.server + "/v1/app/unlock"
    before = audit_entries(d)
    for _ in range(100):
        assert phone.http.post(url, content=body, headers=forged(str(uuid.uuid4()))).status_code == 401
    assert audit_entries(d) == before
    for _ in range(30):
        assert phone.http.post(url, content=body, headers=forged(phone.device_id)).status_code == 401
    audited = query(
        d,
        "SELECT COUNT(*) FROM audit WHERE seq > ? AND event = 'device.unlock_refused' AND subject = ?",
        (before, phone.device_id),
    )[0][0]
    assert 1 <= audited <= 10, audited
    assert audit_entries(d) == before + audited


def test_a_flood_of_push_requests_is_rate_limited(d: Daemon, people: list[tuple[str, PhoneClient]]) -> None:
    number, phone = people[8]
    unknown = fresh_adult()
    k = new_kiosk(d, "Flooding branch")
    answers: dict[str, list[int]] = {number: [], unknown: []}
    limited: list[httpx.Response] = []
    with k:
        for _ in range(3 * PER_NUMBER):
            for n in (number, unknown):
                r = k.post("/v1/auth", json={"personalNumber": n})
                answers[n].append(r.status_code)
                if r.status_code == 429:
                    limited.append(r)
    for n in (number, unknown):  # known or not, the same limit: a 429 tells nothing about the number
        assert answers[n] == [200] * PER_NUMBER + [429] * (2 * PER_NUMBER), answers[n]
    assert {r.json()["error"] for r in limited} == {"rateLimited"}
    assert all("personal number" in r.json()["reason"] and int(r.headers["Retry-After"]) >= 1 for r in limited)
    customer = query(d, "SELECT id FROM customers WHERE personal_number=?", (number,))[0][0]
    pushed = query(d, "SELECT COUNT(*) FROM orders WHERE customer_id=?", (customer,))[0][0]
    assert pushed <= PER_NUMBER + 1  # at most the limit reached the phone (+1 from earlier tests: none here)
    assert phone.requests().requests == []  # and they cancelled each other (alreadyInProgress)
    figures("attacks", flood_requests=sum(len(v) for v in answers.values()), flood_limited=len(limited))


def test_login_method_lookups_count_against_the_per_number_limit(d: Daemon) -> None:
    number = fresh_adult()
    with new_kiosk(d, "Looking-up branch") as k:
        answers = [k.post("/v1/login-method", json={"personalNumber": number}).status_code for _ in range(PER_NUMBER)]
        assert answers == [200] * PER_NUMBER
        assert k.post("/v1/auth", json={"personalNumber": number}).status_code == 429


def test_enumerating_numbers_learns_no_more_than_the_kiosk_budget(
    d: Daemon, people: list[tuple[str, PhoneClient]]
) -> None:
    """Unknown numbers and customers without the app get the same answers; the kiosk's budget is
    the fastest anyone can tell customers with the app apart (their phone is asked), and it is
    spent the same way by every number."""
    with_app = [n for n, _ in people[:8]]
    without_app = [fresh_adult() for _ in range(3)]
    for n in without_app:
        d.enrol(n)
    unknown = [fresh_adult() for _ in range(8)]
    k = new_kiosk(d, "Enumerating branch")
    timings: dict[str, list[float]] = {"app": [], "noapp": [], "unknown": []}
    shapes: dict[str, set[tuple[str, ...]]] = {"app": set(), "noapp": set(), "unknown": set()}
    collected: dict[str, set[str]] = {"noapp": set(), "unknown": set()}
    order = [("app", n) for n in with_app] + [("noapp", n) for n in without_app] + [("unknown", n) for n in unknown]
    sent = 0
    with k:
        for round_ in range(3):
            for kind, n in order if round_ != 1 else order[::-1]:
                began = time.perf_counter()
                r = k.post("/v1/auth", json={"personalNumber": n})
                timings[kind].append(time.perf_counter() - began)
                sent += 1
                assert r.status_code == 200, r.text
                shapes[kind].add(tuple(sorted(r.json())))
                if kind != "app":
                    c = k.post("/v1/collect", json={"orderRef": r.json()["orderRef"]}).json()
                    collected[kind].add(json.dumps({**c, "orderRef": "-"}, sort_keys=True))
        assert shapes["app"] == shapes["noapp"] == shapes["unknown"]
        assert collected["noapp"] == collected["unknown"] and len(collected["unknown"]) == 1
        # the budget: whatever the number, the kiosk is stopped at the same count
        initial = sent
        assert initial < PER_KIOSK
        rest = []
        while sent < PER_KIOSK + 5:
            rest.append(k.post("/v1/auth", json={"personalNumber": fresh_adult()}).status_code)
            sent += 1
        assert rest == [200] * (PER_KIOSK - initial) + [429] * 5, rest
        after = [k.post("/v1/auth", json={"personalNumber": n}).status_code for n in (with_app[0], unknown[0])]
        assert after == [429, 429]
        # The remembered login method tells customers apart too: it is spent from the same budget.
        looked_up = [k.post("/v1/login-method", json={"personalNumber": n}) for n in (with_app[0], unknown[0])]
        assert [r.status_code for r in looked_up] == [429, 429], [r.text for r in looked_up]
        assert "kiosk" in k.post("/v1/auth", json={"personalNumber": without_app[0]}).json()["reason"]
    medians = {kind: statistics.median(values) * 1000 for kind, values in timings.items()}
    # No timing tell worth having: the answers differ by less than a millisecond or two, far below
    # the noise a caller sees, and a caller gets only PER_KIOSK tries a minute anyway.
    tolerance = max(5.0, medians["unknown"])  # generous: this runs on a loaded 2-core machine
    assert abs(medians["noapp"] - medians["unknown"]) < tolerance, medians
    assert abs(medians["app"] - medians["unknown"]) < 2 * tolerance, medians
    figures(
        "attacks",
        enumeration_tries=sent,
        enumeration_budget_per_minute=PER_KIOSK,
        enumeration_median_ms={k: round(v, 2) for k, v in medians.items()},
    )
    audit_verify(d)

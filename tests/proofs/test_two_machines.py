"""Two machines on one: instances that share nothing but PostgreSQL and the HSM (issue 24).

Instance A and instance B have homes of their own (as two machines would: no file in common), one
PostgreSQL database and one SoftHSM token served by a real `p11-kit server`, used by both through
p11-kit-client.so (docs/operations.md, "Two machines"). The CA is made once, from A's home; B gets
the token's PIN and the public URL, nothing else. Proven here:

- an order crosses instances: started on A, approved by a phone long-polling B, the password on B,
  collected on A; B ran the password check (the order names B's instance id as its runner);
- a revocation by an admin command with A's home shows at once in B's OCSP answer (`openssl ocsp`)
  and CRL (`openssl crl`), though B had just answered both (the answers B keeps for reuse);
- a password check running on A (A stopped with SIGSTOP in the middle of it) is not taken over by
  B restarting: A's live lease keeps it A's, and A completes it once it runs again;
- a signing on A that waits on a stalled HSM (the p11-kit server stopped) for longer than the lease
  is not taken over by B's sweep for expired leases: A renews its lease while it waits, and completes
  the order with one signature once the HSM answers;
- an order left in a password check by an instance that died is taken over within a third of the
  lease after it ran out (the sweep for expired leases), and its password then goes through.

Behind TILLIT_FULL_TESTS=1: A killed with SIGKILL during signings, and B taking the orders over
once their leases ran out, never releases a second signature: every complete order has exactly
one `signature.created` and one stored signed document. And the `p11-kit server` killed and
started again under 32 clients on both machines: no lost committed order, no answer but 200 and
the documented 503 `hsmUnavailable`.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from asn1crypto import pem, x509

from tests.daemon import PASSWORD, Daemon, free_port, make_daemon
from tests.factories import fresh_adult
from tests.proofs.common import FULL, enrol_many
from tests.proofs.p11kit import P11KitServer, require_p11_kit, start_and_approve
from tests.proofs.test_hsm_outages import Load
from tests.store.conftest import (
    audit_count,
    pg_database,  # noqa: F401 - the fixture: one database for both machines
    pg_query,
)
from tillit.phone.client import PhoneClient

pytestmark = [pytest.mark.integration, pytest.mark.hsm, pytest.mark.postgresql]

WAIT = 30.0
LEASE = 20.0  # longer than B's restart on a busy machine; the long proof waits for it to run out
# How often each instance looks for expired leases to take over: a third of the lease.
LEASE_SWEEP = LEASE / 3
# No rate limits in the way of many orders; the retention sweep out of the way, so that only the
# sweep for expired leases takes orders over.
SETTINGS = {
    "TILLIT_RATE_ORDERS_PER_NUMBER": "0",
    "TILLIT_RATE_ORDERS_PER_KIOSK": "0",
    "TILLIT_LEASE_SECONDS": str(LEASE),
    "TILLIT_MAINTENANCE_INTERVAL_SECONDS": "3600",
}


class Machines:
    def __init__(self, a: Daemon, b: Daemon, server: P11KitServer, url: str) -> None:
        self.a, self.b, self.server, self.url = a, b, server, url


@pytest.fixture(scope="module")
def machines(tmp_path_factory: pytest.TempPathFactory, pg_database: str) -> Iterator[Machines]:  # noqa: F811
    require_p11_kit()
    root = tmp_path_factory.mktemp("two-machines")
    # Machine A: `tillit-hsm init` and `ca init` once, the CA's ledger already in PostgreSQL.
    a = make_daemon(root / "machine-a", TILLIT_DATABASE_URL=pg_database, **SETTINGS)
    server = P11KitServer(root / "hsm.sock", a.home / "softhsm2.conf")
    server.start()
    # From here on both use the token only through p11-kit: the socket stands for the network.
    a.env.update(server.client_env())
    a.env["TILLIT_HSM_PIN"] = (a.home / "hsm-pin").read_text().strip()
    home_b = root / "machine-b"
    home_b.mkdir()
    b = Daemon(home=home_b, port=free_port(), env={**a.env, "TILLIT_HOME": str(home_b)}, kiosk_token=a.kiosk_token)
    b.env["TILLIT_PORT"] = str(b.port)
    # Behind one load balancer both answer at one public URL: the one the CA was made with.
    b.env["TILLIT_PUBLIC_URL"] = a.url
    try:
        a.start()
        b.start()
        yield Machines(a, b, server, pg_database)
    finally:
        b.stop()
        a.stop()
        server.kill()


def enrolled(m: Machines, *extra: str) -> tuple[str, PhoneClient, PhoneClient]:
    """A customer enrolled with A's home, and their phone as it talks to A and to B."""
    number = fresh_adult()
    m.a.enrol(number, "Kari Nordmann", PASSWORD, *extra)
    on_a = m.a.add_device(number)
    return number, on_a, PhoneClient(m.b.url, on_a.device_id, on_a.key)


def test_the_homes_share_no_file_and_differ_in_instance_id(machines: Machines) -> None:
    a, b = machines.a, machines.b
    assert not (b.home / "ca.db").exists() and not (a.home / "ca.db").exists()  # the ledger is in PostgreSQL
    assert not (b.home / "tokens").exists()  # B has no token of its own: only p11-kit's socket
    ids = [(d.home / "instance-id").read_text().strip() for d in (a, b)]
    assert ids[0] != ids[1] and all(ids)


def test_an_order_crosses_the_machines(machines: Machines) -> None:
    a, b = machines.a, machines.b
    number, phone_a, phone_b = enrolled(machines)
    polled: dict[str, Any] = {}

    def long_poll() -> None:
        polled["requests"] = phone_b.requests(wait=WAIT).requests

    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(0.5)  # the long-poll parks on B before the order exists
    with a.kiosk() as k:
        started = k.post("/v1/auth", json={"personalNumber": number})
    assert started.status_code == 200, started.text
    ref = started.json()["orderRef"]
    poller.join(WAIT + 15)
    assert [r.order_ref for r in polled["requests"]] == [ref]
    assert phone_b.decide(polled["requests"][0], "approve")
    with b.kiosk() as k:
        answer = k.post("/v1/password", json={"orderRef": ref, "password": PASSWORD})
    assert answer.status_code == 200 and answer.json()["status"] == "complete", answer.text
    with a.kiosk() as k:
        collected = k.post("/v1/collect", json={"orderRef": ref}).json()
    assert collected["status"] == "complete"
    assert collected["completionData"]["customer"]["personalNumber"] == number
    (runner,) = pg_query(machines.url, "SELECT runner FROM orders WHERE ref=%s", ref)[0]
    assert runner == (b.home / "instance-id").read_text().strip()
    assert audit_count(machines.url, "order.completed", ref) == 1
    phone_a.close()
    phone_b.close()


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(x) for x in args], capture_output=True, text=True, timeout=60, check=False)


def test_a_revocation_on_machine_a_shows_at_once_in_b_ocsp_and_crl(machines: Machines, tmp_path: Path) -> None:
    a, b = machines.a, machines.b
    number, phone_a, phone_b = enrolled(machines)
    shown = json.loads(a.run("tillit-signer", "customers", "show", number, "--json").stdout)
    ((der,),) = pg_query(machines.url, "SELECT der FROM ca_certificates WHERE serial=%s", shown["certificateSerial"])
    customer = x509.Certificate.load(bytes(der))
    cert = tmp_path / "customer.pem"
    cert.write_bytes(pem.armor("CERTIFICATE", customer.dump()))
    issuing = tmp_path / "issuing.pem"
    issuing.write_bytes(pem.armor("CERTIFICATE", httpx.get(b.url + "/v1/ca/issuing.cer").content))
    chain = tmp_path / "chain.pem"
    chain.write_text(httpx.get(b.url + "/v1/ca").text)
    request = tmp_path / "request.der"
    made = _openssl("openssl", "ocsp", "-issuer", issuing, "-cert", cert, "-reqout", request, "-no_nonce")
    assert made.returncode == 0, made.stderr

    def b_ocsp() -> str:
        encoded = base64.b64encode(request.read_bytes()).decode()
        answer = httpx.get(f"{b.url}/v1/ocsp/{encoded}")  # by GET: the answer B keeps for reuse
        assert answer.status_code == 200, answer.text
        (tmp_path / "response.der").write_bytes(answer.content)
        result = _openssl(
            "openssl", "ocsp", "-respin", tmp_path / "response.der", "-issuer", issuing, "-cert", cert,
            "-CAfile", chain, "-no_nonce",
        )  # fmt: skip
        assert result.returncode == 0 and "Response verify OK" in result.stderr, result.stdout + result.stderr
        return result.stdout.splitlines()[0].rsplit(" ", 1)[-1]

    def b_crl_serials() -> tuple[set[int], int]:
        (tmp_path / "b.crl").write_bytes(httpx.get(b.url + "/v1/crl").content)
        verified = _openssl("openssl", "crl", "-inform", "DER", "-in", tmp_path / "b.crl", "-CAfile", chain, "-noout")
        assert verified.returncode == 0 and "verify OK" in verified.stderr, verified.stderr
        text = _openssl("openssl", "crl", "-inform", "DER", "-in", tmp_path / "b.crl", "-noout", "-text").stdout
        serials = {int(line.split(":", 1)[1], 16) for line in text.splitlines() if "Serial Number:" in line}
        number_line = text.split("X509v3 CRL Number:", 1)[1].split("\n", 2)[1]
        return serials, int(number_line.strip())

    serial = customer.serial_number
    assert b_ocsp() == "good" and b_ocsp() == "good"  # the second one is B's kept answer
    before, crl_number = b_crl_serials()
    assert serial not in before
    out = a.run("tillit-signer", "customers", "revoke-certificate", number, "--reason", "keyCompromise")
    assert "revoked" in out.stdout
    assert b_ocsp() == "revoked"  # at once: no wait, no restart of B
    after, newer = b_crl_serials()
    assert serial in after and newer > crl_number
    phone_a.close()
    phone_b.close()


def test_a_password_check_running_on_a_is_not_taken_over_by_b_restarting(machines: Machines) -> None:
    a, b = machines.a, machines.b
    # A slow password hash (Argon2id with many passes) makes the check last long enough to catch.
    number = fresh_adult()
    slow = Daemon(home=a.home, port=a.port, env={**a.env, "TILLIT_ARGON2_TIME_COST": "60"})
    slow.enrol(number, "Kari Nordmann")
    phone = a.add_device(number)
    with a.kiosk() as k:
        ref = start_and_approve(k, number, phone)
    answer: dict[str, httpx.Response] = {}

    def password_on_a() -> None:
        with a.kiosk() as k:
            answer["a"] = k.post("/v1/password", json={"orderRef": ref, "password": PASSWORD})

    checking = threading.Thread(target=password_on_a)
    checking.start()
    deadline = time.monotonic() + 10
    while pg_query(machines.url, "SELECT status FROM orders WHERE ref=%s", ref)[0][0] != "verifying":
        assert time.monotonic() < deadline, "the password check never started"
        time.sleep(0.005)
    assert a.process is not None
    os.kill(a.process.pid, signal.SIGSTOP)  # A is alive but does nothing: as a machine under load
    stopped = time.monotonic()
    try:
        b.stop()
        b.start()  # B's recovery at start sees A's order in 'verifying', under A's live lease
        restarted = time.monotonic() - stopped
        status, runner = pg_query(machines.url, "SELECT status, runner FROM orders WHERE ref=%s", ref)[0]
        events = pg_query(machines.url, "SELECT event, data FROM audit WHERE subject=%s ORDER BY seq", ref)
        assert restarted < LEASE, f"B took {restarted:.1f} s to restart: A's lease ran out meanwhile"
        assert status == "verifying", events
        assert runner == (a.home / "instance-id").read_text().strip()
        assert audit_count(machines.url, "order.recovered", ref) == 0
    finally:
        os.kill(a.process.pid, signal.SIGCONT)
    checking.join(60)
    assert answer["a"].status_code == 200 and answer["a"].json()["status"] == "complete", answer["a"].text
    assert audit_count(machines.url, "order.completed", ref) == 1
    phone.close()


def test_a_signing_stalled_on_the_hsm_past_its_lease_stays_a_s(machines: Machines) -> None:
    """The HSM stalls while A signs (its p11-kit server and the processes it forked stopped with
    SIGSTOP, as a network HSM failing over), for longer than the lease. A, alive, renews its lease,
    so B's sweep for expired leases never takes the order over to sign it a second time;
    once the HSM answers again A completes the order with one signature."""
    a, server = machines.a, machines.server
    assert server.process is not None
    number, phone_a, phone_b = enrolled(machines)
    with a.kiosk() as k:
        ref = start_and_approve(k, number, phone_a, sign=True)
    answer: dict[str, httpx.Response] = {}

    def password_on_a() -> None:
        with a.kiosk() as k:
            k.timeout = httpx.Timeout(4 * LEASE)
            answer["a"] = k.post("/v1/password", json={"orderRef": ref, "password": PASSWORD})

    os.killpg(server.process.pid, signal.SIGSTOP)
    checking = threading.Thread(target=password_on_a)
    try:
        checking.start()
        deadline = time.monotonic() + 20
        running = ("verifying", "signing")
        while pg_query(machines.url, "SELECT status FROM orders WHERE ref=%s", ref)[0][0] not in running:
            assert time.monotonic() < deadline, "the password check never started"
            time.sleep(0.01)
        # The lease taken at the start has run out by now, and B's sweep has looked since.
        time.sleep(LEASE + LEASE_SWEEP + 2)
        status, runner = pg_query(machines.url, "SELECT status, runner FROM orders WHERE ref=%s", ref)[0]
        taken = audit_count(machines.url, "order.resumed", ref) + audit_count(machines.url, "order.recovered", ref)
        assert status in running and taken == 0, (status, runner, taken)
        assert runner == (a.home / "instance-id").read_text().strip()
    finally:
        os.killpg(server.process.pid, signal.SIGCONT)
    checking.join(4 * LEASE)
    assert answer["a"].status_code == 200 and answer["a"].json()["status"] == "complete", answer["a"].text
    assert audit_count(machines.url, "signature.created", ref) == 1
    assert audit_count(machines.url, "signature.discarded", ref) == 0
    phone_a.close()
    phone_b.close()


def test_an_order_left_by_a_dead_instance_is_taken_over_within_a_third_of_the_lease(machines: Machines) -> None:
    """What an instance that died in a password check leaves behind (the order `verifying`, its
    lease run out, its runner gone) is undone by the instances still serving within a third of the
    lease, without waiting for the retention sweep (an hour here); the customer's password then
    goes through on either instance."""
    number, phone_a, phone_b = enrolled(machines)
    with machines.a.kiosk() as k:
        ref = start_and_approve(k, number, phone_a)
    pg_query(
        machines.url,
        "UPDATE orders SET status='verifying', runner='machine-c-dead', lease_until=%s WHERE ref=%s RETURNING ref",
        time.time() - 1,
        ref,
    )
    left = time.monotonic()
    while pg_query(machines.url, "SELECT status FROM orders WHERE ref=%s", ref)[0][0] != "approved":
        assert time.monotonic() - left < LEASE_SWEEP + 5, "nobody took the dead instance's order over"
        time.sleep(0.1)
    events = pg_query(machines.url, "SELECT data FROM audit WHERE event='order.recovered' AND subject=%s", ref)
    assert len(events) == 1 and json.loads(events[0][0])["runner"] == "machine-c-dead", events
    with machines.b.kiosk() as k:
        done = k.post("/v1/password", json={"orderRef": ref, "password": PASSWORD})
    assert done.status_code == 200 and done.json()["status"] == "complete", done.text
    phone_a.close()
    phone_b.close()


@pytest.mark.skipif(not FULL, reason="long: TILLIT_FULL_TESTS=1")
@pytest.mark.timeout(900)
def test_killing_a_during_signings_never_releases_a_second_signature(machines: Machines) -> None:
    """A signs for many customers at once and is killed (SIGKILL) in the middle; B, still serving,
    takes over the signings A held once their leases run out (its sweep for expired leases) and A, when it
    starts again, resumes only what is still its own. Every order that completes has exactly one
    `signature.created` and one signed document; none is signed by two live instances."""
    a = machines.a
    people = enrol_many(a, 12)
    refs: list[str] = []
    with a.kiosk() as k:
        for number, phone_a in people:
            refs.append(start_and_approve(k, number, phone_a, sign=True))

    def password(ref: str) -> int:
        try:
            with a.kiosk() as k:
                return k.post("/v1/password", json={"orderRef": ref, "password": PASSWORD}).status_code
        except httpx.HTTPError:
            return 0  # A died under the request

    with ThreadPoolExecutor(len(refs)) as pool:
        futures = [pool.submit(password, ref) for ref in refs]
        deadline = time.monotonic() + 20
        while not pg_query(machines.url, "SELECT 1 FROM orders WHERE status='signing' AND ref = ANY(%s)", refs):
            assert time.monotonic() < deadline, "no signing started"
            time.sleep(0.002)
        a.stop(kill=True)
        [f.result() for f in futures]
    # B's sweep takes over what A held once the leases run out (a sweep every third of the lease).
    deadline = time.monotonic() + LEASE + LEASE_SWEEP + 20
    running = "SELECT 1 FROM orders WHERE status IN ('verifying','signing') AND ref = ANY(%s)"
    while pg_query(machines.url, running, refs):
        assert time.monotonic() < deadline, "B never took the signings of the dead A over"
        time.sleep(0.2)
    taken = pg_query(
        machines.url,
        "SELECT event, COUNT(*) FROM audit WHERE event IN ('order.resumed', 'order.recovered')"
        " AND subject = ANY(%s) GROUP BY event",
        refs,
    )
    a.start()
    print(f"\nA killed during {len(refs)} password checks and signings; B took over: {dict(taken)}")
    for ref in refs:
        status = pg_query(machines.url, "SELECT status FROM orders WHERE ref=%s", ref)[0][0]
        created = audit_count(machines.url, "signature.created", ref)
        signed = "SELECT COUNT(*) FROM documents WHERE order_ref=%s AND signed IS NOT NULL"
        stored = pg_query(machines.url, signed, ref)[0][0]
        if status == "complete":
            assert (created, stored) == (1, 1), ref
        else:
            assert created == 0 and status in ("approved", "failed"), (ref, status)
    for _, phone_a in people:
        phone_a.close()


@pytest.mark.skipif(not FULL, reason="long: TILLIT_FULL_TESTS=1")
@pytest.mark.timeout(900)
def test_the_hsm_server_killed_and_restarted_under_load_on_both_machines(machines: Machines) -> None:
    """32 clients, half on each machine, ordering logins and signatures while the `p11-kit server`
    both use is killed (with its children) and started again: every answer is a 200 or the
    documented 503 `hsmUnavailable`, every order a client saw complete is complete in the database
    with its one signature, and none is completed twice."""
    a, b, server = machines.a, machines.b, machines.server
    people = enrol_many(a, 32)
    on_b = [(number, PhoneClient(b.url, phone.device_id, phone.key)) for number, phone in people[16:]]
    loads = [Load(a, people[:16]), Load(b, on_b)]
    for load in loads:
        load.start()
    try:
        time.sleep(2)  # orders in flight on both
        server.kill()
        time.sleep(3)
        server.start()
        deadline = time.monotonic() + 10
        while any(httpx.get(d.url + "/healthz", timeout=10).status_code != 200 for d in (a, b)):
            assert time.monotonic() < deadline, "an instance did not come back within 10 s of the HSM"
            time.sleep(0.1)
        time.sleep(2)  # orders again on the returned HSM
    finally:
        for load in loads:
            load.finish()
    for load in loads:
        assert load.problems == [] and load.unfinished == [], (load.problems[:10], load.unfinished)
        assert set(load.statuses) <= {200, 503}, load.statuses
        assert set(load.refused) <= {"hsmUnavailable"}, load.refused
    completed = [ref for load in loads for ref in load.completed]
    assert completed and len(set(completed)) == len(completed)
    lost = pg_query(machines.url, "SELECT ref FROM orders WHERE ref = ANY(%s) AND status != 'complete'", completed)
    assert lost == [], lost
    twice = pg_query(
        machines.url,
        "SELECT subject, event FROM audit WHERE event IN ('order.completed', 'signature.created')"
        " GROUP BY subject, event HAVING COUNT(*) > 1",
    )
    assert twice == []
    for _, phone in people + on_b:
        phone.close()
    print(
        f"\np11-kit server killed under 32 clients on two machines: {len(completed)} orders completed,"
        f" {sum(load.statuses[503] for load in loads)} answers 503"
    )

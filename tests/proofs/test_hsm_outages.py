"""The daemon on a module other than SoftHSM, and HSM outages survived without a restart (issue 24).

One daemon uses its token through p11-kit-client.so and a real `p11-kit server` on a unix socket
(docs/hsm.md); another uses SoftHSM directly. Customers keep ordering logins and signatures in
threads while the HSM goes away (the server killed with its children, or SoftHSM's whole `tokens/`
directory moved away) and comes back. Measured and required: /healthz answers 503 within 1 s of the
fault, and within 5 s of the HSM's return it is green again and an order waiting for its password
signs, in the same process. Throughout, every answer is a 200 or a 503 `hsmUnavailable` (never a
500), every order ends complete once the HSM is back, none is completed or signed twice, and none is
left half-signed. TILLIT_FULL_TESTS=1 holds each outage longer, three times, with more clients.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.daemon import PASSWORD, Daemon, free_port, make_daemon, tool
from tests.proofs.common import FULL, enrol_many, figures, log_problems, query
from tests.proofs.p11kit import CLIENT_MODULE, P11KitServer, daemon_behind_p11kit, start_and_approve
from tillit.hsm.settings import SOFTHSM_MODULE
from tillit.phone.client import PhoneClient

pytestmark = pytest.mark.integration

CLIENTS = 8 if FULL else 4
OUTAGE_SECONDS = 5.0 if FULL else 1.5
ROUNDS = 3 if FULL else 1
TO_503 = 1.0
BACK_WITHIN = 5.0
NO_LIMITS = {"TILLIT_RATE_ORDERS_PER_NUMBER": "0", "TILLIT_RATE_ORDERS_PER_KIOSK": "0", "TILLIT_TEST_HOOKS": "1"}

People = list[tuple[str, PhoneClient]]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, P11KitServer]]:
    """A daemon whose every HSM call goes through p11-kit-client.so to a `p11-kit server`."""
    with daemon_behind_p11kit(tmp_path_factory, "remote-hsm", **NO_LIMITS) as served:
        yield served


@pytest.fixture(scope="module")
def served_people(served: tuple[Daemon, P11KitServer]) -> Iterator[People]:
    made = enrol_many(served[0], CLIENTS + 2)  # enrolled through the remote module too
    yield made
    for _, phone in made:
        phone.close()


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon on SoftHSM directly."""
    d = make_daemon(tmp_path_factory.mktemp("local-hsm") / "home", **NO_LIMITS)
    d.start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def local_people(local: Daemon) -> Iterator[People]:
    made = enrol_many(local, CLIENTS + 2)
    yield made
    for _, phone in made:
        phone.close()


def test_login_and_sign_through_p11_kit(served: tuple[Daemon, P11KitServer], served_people: People) -> None:
    d, server = served
    (number, phone), (signer_number, signer_phone) = served_people[0], served_people[1]
    with d.kiosk() as k:
        login = start_and_approve(k, number, phone)
        sign = start_and_approve(k, signer_number, signer_phone, sign=True)
        done = [k.post("/v1/password", json={"orderRef": ref, "password": PASSWORD}).json() for ref in (login, sign)]
    assert [x["status"] for x in done] == ["complete", "complete"], done
    assert query(d, "SELECT COUNT(*) FROM audit WHERE event='signature.created' AND subject=?", (sign,)) == [(1,)]
    # An administrator's own tool, through the same remote module, sees the customers' keys.
    pin = (d.home / "hsm-pin").read_text().strip()
    listing = subprocess.run(
        ["pkcs11-tool", "--module", CLIENT_MODULE, "--token-label", "tillit", "--login", "--pin", "env:PIN", "-O"],
        env={**os.environ, "P11_KIT_SERVER_ADDRESS": server.address, "PIN": pin},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listing.returncode == 0, listing.stderr
    labels = [row[0] for row in query(d, "SELECT key_label FROM customers")]
    assert len(labels) >= len(served_people)
    for label in labels:
        assert f"label:      {label}\n" in listing.stdout, f"{label} not listed by pkcs11-tool"


def test_serve_names_what_the_module_lacks(local: Daemon, tmp_path: Path) -> None:
    """SoftHSM configured without two mechanisms Tillit calls: `serve` stops with one line naming both."""
    conf = tmp_path / "softhsm2.conf"
    # SoftHSM 2.6 skips the first name of a "-" list, hence CKM_MD5 first (Tillit does not use it).
    conf.write_text(
        (local.home / "softhsm2.conf").read_text() + "slots.mechanisms = -CKM_MD5,CKM_ECDSA,CKM_SHA_1_HMAC\n"
    )
    # Another port, the CA's public URL (the certificates point there).
    env = {**local.env, "TILLIT_PUBLIC_URL": local.url}
    env.update(TILLIT_PKCS11_MODULE=SOFTHSM_MODULE, SOFTHSM2_CONF=str(conf))  # not the home's configuration
    result = subprocess.run(
        [tool("tillit-signer"), "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"tillit-signer: HSM: the PKCS#11 module {SOFTHSM_MODULE} (token 'tillit') lacks"), lines
    assert "no CKM_ECDSA, needed for every signature" in lines[0]
    assert "no CKM_SHA_1_HMAC, needed for code devices' one-time codes" in lines[0]
    assert _health(local) == 200  # the running daemon on the same token is untouched


@dataclass
class Load:
    """Customers ordering logins and signatures in threads, each to the end (the password retried
    while the HSM answers 503), recording every answer."""

    d: Daemon
    people: People
    statuses: Counter[int] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, response: httpx.Response) -> httpx.Response:
        with self.lock:
            self.statuses[response.status_code] += 1
            if response.status_code == 503:
                self.refused[response.json().get("error", "?")] += 1
            elif response.status_code != 200:
                self.problems.append(f"{response.request.url.path}: {response.status_code} {response.text[:200]}")
        return response

    def start(self) -> None:
        self.threads = [threading.Thread(target=self.run, args=(n,), daemon=True) for n in range(len(self.people))]
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)
            assert not t.is_alive(), "a client never finished its order"

    def run(self, n: int) -> None:
        number, phone = self.people[n]
        doc = base64.b64encode(f"Avtale {n}\n".encode()).decode()
        with self.d.kiosk() as k:
            i = 0
            while not self.stop.is_set():
                i += 1
                try:
                    self.order(k, number, phone, doc if i % 2 else None)
                except Exception as e:  # reported by the test
                    with self.lock:
                        self.problems.append(f"client {n}: {type(e).__name__}: {e}")
                    return

    def order(self, k: httpx.Client, number: str, phone: PhoneClient, doc: str | None) -> None:
        if doc is None:
            r = self.note(k.post("/v1/auth", json={"personalNumber": number}))
        else:
            body = {
                "personalNumber": number,
                "userVisibleData": "Eg signerer",
                "documents": [{"name": "avtale.txt", "contentType": "text/plain", "content": doc}],
            }
            r = self.note(k.post("/v1/sign", json=body))
        if r.status_code != 200:
            time.sleep(0.05)
            return
        ref = str(r.json()["orderRef"])
        request = next(x for x in phone.requests(wait=5).requests if x.order_ref == ref)
        phone.decide(request, "approve")
        give_up = None
        while True:
            r = self.note(k.post("/v1/password", json={"orderRef": ref, "password": PASSWORD}))
            if r.status_code == 200:
                assert r.json()["status"] == "complete", r.text
                with self.lock:
                    self.completed.append(ref)
                return
            if self.stop.is_set():  # finishing: the HSM is back, the order must complete soon
                give_up = give_up or time.monotonic() + 15
                if time.monotonic() > give_up:
                    with self.lock:
                        self.unfinished.append(ref)
                    return
            time.sleep(0.05)


def _wait_for(check: Callable[[], bool], within: float, what: str) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < within, f"{what} not within {within} s"
        time.sleep(0.02)
    return time.monotonic() - started


def _health(d: Daemon) -> int:
    return httpx.get(d.url + "/healthz", timeout=10).status_code


def _ride_out(
    d: Daemon, people: People, fault: str, take_away: Callable[[], None], give_back: Callable[[], None]
) -> None:
    """Rounds of outage under load; every measure asserted, and recorded as figures."""
    assert d.process is not None
    pid = d.process.pid
    probe_number, probe_phone = people[-1]
    load = Load(d, people[: len(people) - 2])
    to_503: list[float] = []
    to_green: list[float] = []
    to_signing: list[float] = []
    load.start()
    try:
        for _ in range(ROUNDS):
            time.sleep(0.5)  # orders in flight
            with d.kiosk() as k:
                waiting = start_and_approve(k, probe_number, probe_phone, sign=True)
                take_away()
                try:
                    to_503.append(_wait_for(lambda: _health(d) == 503, TO_503, "/healthz 503"))
                    refused = k.post("/v1/password", json={"orderRef": waiting, "password": PASSWORD})
                    assert refused.status_code == 503, refused.text
                    assert refused.json()["error"] == "hsmUnavailable", refused.text
                    time.sleep(OUTAGE_SECONDS)
                finally:
                    give_back()
                back = time.monotonic()
                to_green.append(_wait_for(lambda: _health(d) == 200, BACK_WITHIN, "/healthz 200"))

                def signed(k: httpx.Client = k, waiting: str = waiting) -> bool:
                    r = k.post("/v1/password", json={"orderRef": waiting, "password": PASSWORD})
                    assert r.status_code in (200, 503), r.text
                    return r.status_code == 200 and r.json()["status"] == "complete"

                _wait_for(signed, BACK_WITHIN, "the waiting order signed")
                to_signing.append(time.monotonic() - back)
    finally:
        load.finish()
    assert load.problems == [], load.problems[:10]
    assert load.unfinished == [], load.unfinished
    assert set(load.statuses) <= {200, 503}, load.statuses
    assert set(load.refused) <= {"hsmUnavailable"}, load.refused
    assert d.process is not None and d.process.pid == pid  # never restarted
    twice = query(
        d,
        "SELECT subject, event, COUNT(*) FROM audit WHERE event IN ('order.completed', 'signature.created')"
        " GROUP BY subject, event HAVING COUNT(*) > 1",
    )
    assert twice == []
    half_signed = query(
        d,
        "SELECT ref, status FROM orders WHERE status != 'complete' AND ref IN "
        "(SELECT subject FROM audit WHERE event='signature.created')",
    )
    assert half_signed == []
    assert not [line for line in log_problems(d) if "ASGI" in line or "Internal Server Error" in line]
    figures(
        f"hsm outage: {fault}",
        rounds=ROUNDS,
        outage_s=OUTAGE_SECONDS,
        clients=len(load.people),
        to_503_s=round(max(to_503), 3),
        to_green_s=round(max(to_green), 3),
        to_signing_s=round(max(to_signing), 3),
        orders_completed=len(load.completed),
        answers_200=load.statuses[200],
        answers_503=load.statuses[503],
    )
    print(
        f"\n{fault}: 503 after {max(to_503):.2f} s; green {max(to_green):.2f} s and signing {max(to_signing):.2f} s"
        f" after the return; {len(load.completed)} orders completed, {load.statuses[503]} answers 503"
    )


def test_hsm_server_killed_and_restarted(served: tuple[Daemon, P11KitServer], served_people: People) -> None:
    d, server = served
    _ride_out(d, served_people, "p11-kit server killed", server.kill, server.start)


def test_sessions_closed_under_the_remote_module(served: tuple[Daemon, P11KitServer], served_people: People) -> None:
    d, _ = served

    def close_sessions() -> None:
        assert httpx.post(d.url + "/test/hsm/close-sessions").json()["rv"] == 0

    load = Load(d, served_people[: CLIENTS // 2])
    load.start()
    try:
        for _ in range(5):
            time.sleep(0.2)
            close_sessions()
    finally:
        load.finish()
    assert load.problems == [] and load.unfinished == [], (load.problems[:10], load.unfinished)
    assert set(load.statuses) <= {200, 503}, load.statuses
    assert load.completed
    assert httpx.get(d.url + "/test/hsm/stats").json()["recoveries"] >= 1


def test_token_store_removed_and_restored(local: Daemon, local_people: People) -> None:
    """SoftHSM's whole token directory moved away and back: SoftHSM cannot even initialise without it."""
    tokens = local.home / "tokens"
    away = local.home / "tokens-away"

    def take_away() -> None:
        shutil.move(str(tokens), str(away))

    def give_back() -> None:
        shutil.move(str(away), str(tokens))

    _ride_out(local, local_people, "token store removed", take_away, give_back)

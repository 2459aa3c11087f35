"""A reusable crash driver: customers drive orders through every state while the daemon is killed.

`CrashRun` owns a daemon, a ledger of every committed answer a client saw, worker threads (each
with its own customers) and a killer. Each worker drives one order at a time per customer with a
plan (login, sign a PDF with an attachment or a text alone, wrong password first, decline, cancel
while pending or after approval, or leave it pending or approved until it expires), always from
the order's collected state, so an answer lost in a kill is simply asked again after the restart.
The killer sends SIGKILL at random moments (some aimed right after a password was sent, to land in
'verifying' and 'signing', some during the daemon's own start-up), restarts it, and checks the store against the ledger:

- no committed order lost; a final state never changes; an open one only moves along legal
  transitions from what the client last saw;
- no order signed twice: `signature.created` entries per order never exceed its documents, and a
  completed sign order has exactly one per document (and stored signed bytes for each);
- nothing is left 'verifying' or 'signing' after a restart: an interrupted password check is
  undone (the order back to 'approved') and an interrupted signing finished at start;
- `tillit-signer audit verify` passes after every restart.

At the end every order must be final: complete, or ended the way its plan ends it, or expired.
"""

from __future__ import annotations

import base64
import json
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.daemon import PASSWORD, Daemon, tool
from tests.proofs.common import audit_verify, database
from tillit.phone.client import PhoneClient, sign_bytes
from tillit.signer.sample_documents import agreement_pdf
from tillit.signer.wire import AppRequest, approval_message

WRONG = "Feil-Passord-99"
PLANS = (
    "auth",
    "auth",
    "sign",
    "sign_text",
    "sign_text",
    "wrong_then_right",
    "decline",
    "cancel_pending",
    "cancel_approved",
    "abandon_pending",
    "abandon_approved",
)
# How each plan may end (besides expiring when a kill outlasted the order).
PLAN_ENDS = {
    "auth": {"complete"},
    "sign": {"complete"},
    "sign_text": {"complete"},
    "wrong_then_right": {"complete"},
    "decline": {"userCancel"},
    "cancel_pending": {"cancelled"},
    "cancel_approved": {"cancelled"},
    "abandon_pending": set(),
    "abandon_approved": set(),
}
LEGAL: dict[str, set[str]] = {
    "pending": {"approved", "failed"},
    "approved": {"verifying", "failed"},
    "verifying": {"approved", "signing", "complete", "failed"},
    "signing": {"complete", "failed", "approved"},  # approved: the HSM went away mid-signing
    "complete": set(),
    "failed": set(),
}
ATTACHMENT = b"Vedlegg: prisliste 2026\nRente 4,9 %\n"
SIGN_PLANS = ("sign", "sign_text")


def reachable(start: str, goal: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        state = todo.pop()
        if state == goal:
            return True
        for nxt in LEGAL[state] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return False


def db_states(status: str, hint: str | None) -> set[str]:
    """The stored states a kiosk answer (status, hintCode) is compatible with."""
    if status == "complete":
        return {"complete"}
    if status == "failed":
        return {"failed"}
    if hint == "outstandingTransaction":
        return {"pending"}
    return {"approved", "verifying", "signing"}


@dataclass
class Seen:
    status: str
    hint: str | None
    token: str | None = None

    @property
    def final(self) -> bool:
        return self.status in ("complete", "failed")


@dataclass
class Record:
    ref: str
    kind: str
    number: str
    documents: int
    plan: str
    expires_at: float
    seen: list[Seen] = field(default_factory=list)
    adopted: bool = False


class Ledger:
    """Every committed answer a client saw, per order."""

    def __init__(self) -> None:
        self.orders: dict[str, Record] = {}
        self.problems: list[str] = []
        self._lock = threading.Lock()

    def add(self, record: Record) -> None:
        with self._lock:
            self.orders[record.ref] = record

    def observe(self, ref: str, body: dict[str, Any]) -> None:
        status, hint = body.get("status"), body.get("hintCode")
        if status not in ("pending", "failed", "complete"):
            return
        token = (body.get("completionData") or {}).get("token")
        seen = Seen(str(status), hint, token)
        with self._lock:
            record = self.orders.get(ref)
            if record is None:
                return
            last = record.seen[-1] if record.seen else None
            if last is not None and last.final and (last.status, last.hint, last.token) != (status, hint, token):
                self.problems.append(f"{ref}: final state changed from {last} to {seen}")
            record.seen.append(seen)

    def last(self, ref: str) -> Seen | None:
        with self._lock:
            record = self.orders[ref]
            return record.seen[-1] if record.seen else None


class Outage(Exception):
    """The daemon was not there (killed): the request's outcome is unknown."""


class CrashRun:
    def __init__(self, daemon: Daemon, customers: list[tuple[str, PhoneClient]], workers: int, seed: int) -> None:
        self.d = daemon
        self.ledger = Ledger()
        self.random = random.Random(seed)
        self.up = threading.Event()
        self.stop = threading.Event()
        self.password_sent = threading.Event()
        self.requests = 0
        self.outages = 0
        self.statuses: Counter[int] = Counter()
        self.kills = 0
        self.startup_kills = 0
        self.states_at_kill: Counter[str] = Counter()
        self.restarts = 0
        self.audit_verifies = 0
        self._count_lock = threading.Lock()
        self._customers = customers
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self.errors: list[str] = []
        self.pdf = agreement_pdf("Lånavtale", "Kari Nordmann", pages=2)
        self._verifier = ThreadPoolExecutor(1)
        self._verifies: list[Future[str]] = []

    # -- HTTP ----------------------------------------------------------------------------------

    def _count(self, status: int) -> None:
        with self._count_lock:
            self.requests += 1
            self.statuses[status] += 1
            if status >= 500:
                self.errors.append(f"HTTP {status}")

    def _call(self, fn: Any) -> httpx.Response:
        if not self.up.is_set():
            self.up.wait(60)
        try:
            response: httpx.Response = fn()
        except (httpx.TransportError, OSError):
            with self._count_lock:
                self.outages += 1
            self.up.wait(60)
            raise Outage from None
        self._count(response.status_code)
        return response

    def kiosk_post(self, k: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
        return self._call(lambda: k.post(path, json=body))

    def collect(self, k: httpx.Client, ref: str) -> dict[str, Any]:
        response = self.kiosk_post(k, "/v1/collect", {"orderRef": ref})
        assert response.status_code == 200, response.text
        body = dict(response.json())
        self.ledger.observe(ref, body)
        return body

    def phone_request(self, phone: PhoneClient, ref: str, wait: float) -> AppRequest | None:
        response = self._call(lambda: phone.request("GET", f"/v1/app/requests?wait={wait:g}", timeout=wait + 10))
        if response.status_code != 200:
            return None
        found = [r for r in response.json()["requests"] if r["orderRef"] == ref]
        return AppRequest.model_validate(found[0]) if found else None

    # -- one order -----------------------------------------------------------------------------

    def start(self, k: httpx.Client, number: str, plan: str, phone: PhoneClient) -> str | None:
        kind = "sign" if plan in SIGN_PLANS else "auth"
        documents = 0
        if kind == "sign":
            # A PDF's start checks what its pages render (about a second under this load), so most
            # of those starts are cut by a kill; text alone starts at once, and its orders reach
            # the signing, where the kills aimed after a password land.
            files = [("vedlegg.txt", "text/plain", ATTACHMENT)]
            if plan == "sign":
                files.insert(0, ("avtale.pdf", "application/pdf", self.pdf))
            docs = [
                {"name": name, "contentType": kind_of, "content": base64.b64encode(content).decode()}
                for name, kind_of, content in files
            ]
            body: dict[str, Any] = {"personalNumber": number, "userVisibleData": "Eg signerer", "documents": docs}
            documents = len(docs)
        else:
            body = {"personalNumber": number}
        try:
            response = self.kiosk_post(k, f"/v1/{kind}", body)
        except Outage:
            self.adopt(number, phone, plan)
            return None
        assert response.status_code == 200, response.text
        started = response.json()
        ref = str(started["orderRef"])
        self.ledger.add(Record(ref, kind, number, documents, plan, float(started["expiresAt"])))
        self.ledger.observe(ref, {"status": "pending", "hintCode": "outstandingTransaction"})
        return ref

    def adopt(self, number: str, phone: PhoneClient, plan: str) -> None:
        """A start whose answer was lost may have committed: the phone shows it; drive it too."""
        for _ in range(3):
            try:
                response = self._call(lambda: phone.request("GET", "/v1/app/requests"))
            except Outage:
                continue
            for r in response.json().get("requests", []):
                if r["orderRef"] not in self.ledger.orders:
                    documents = len(r["documents"])
                    kind = r["kind"]
                    record = Record(
                        r["orderRef"],
                        kind,
                        number,
                        documents,
                        "sign" if kind == "sign" else "auth",
                        float(r["expiresAt"]),
                        adopted=True,
                    )
                    self.ledger.add(record)
            return

    def drive(self, k: httpx.Client, phone: PhoneClient, ref: str, state: dict[str, int]) -> None:
        record = self.ledger.orders[ref]
        plan = record.plan
        wrong_sent = False
        while not self.stop.is_set() or time.time() < record.expires_at + 2:
            try:
                body = self.collect(k, ref)
                status, hint = body["status"], body.get("hintCode")
                if status in ("complete", "failed"):
                    return
                if time.time() > record.expires_at + 1:
                    time.sleep(0.2)
                    continue
                if hint == "outstandingTransaction":
                    if plan == "abandon_pending":
                        return
                    if plan == "cancel_pending":
                        self.observe_post(k, "/v1/cancel", ref)
                        continue
                    request = self.phone_request(phone, ref, wait=2)
                    if request is None:
                        continue
                    decision = "decline" if plan == "decline" else "approve"
                    signature = sign_bytes(phone.key, approval_message(request.challenge, decision))
                    self._call(
                        lambda request=request, decision=decision, signature=signature: phone.request(
                            "POST",
                            f"/v1/app/requests/{ref}",
                            {"decision": decision, "signature": signature},
                        )
                    )
                    continue
                # approved (userSign / wrongPassword), or being verified or signed
                if plan == "abandon_approved":
                    return
                if plan == "cancel_approved":
                    self.observe_post(k, "/v1/cancel", ref)
                    continue
                use_wrong = plan == "wrong_then_right" and not wrong_sent and state["attempts_left"] >= 3
                self.password_sent.set()
                response = self.kiosk_post(
                    k, "/v1/password", {"orderRef": ref, "password": WRONG if use_wrong else PASSWORD}
                )
                if response.status_code == 200:
                    answer = response.json()
                    self.ledger.observe(ref, answer)
                    if use_wrong:
                        wrong_sent = True
                        if answer.get("attemptsLeft") is not None:
                            state["attempts_left"] = int(answer["attemptsLeft"])
                    elif answer.get("status") == "complete":
                        state["attempts_left"] = 5
                elif response.status_code == 409:
                    time.sleep(0.02)  # a password check of this order is still running
            except Outage:
                continue

    def observe_post(self, k: httpx.Client, path: str, ref: str) -> None:
        response = self.kiosk_post(k, path, {"orderRef": ref})
        if response.status_code == 200:
            self.ledger.observe(ref, response.json())

    # -- workers and the killer ----------------------------------------------------------------

    def worker(self, index: int, customers: list[tuple[str, PhoneClient]]) -> None:
        rng = random.Random(self.random.random() + index)
        busy_until = {number: 0.0 for number, _ in customers}
        states = {number: {"attempts_left": 5} for number, _ in customers}
        with self.d.kiosk() as k:
            k.timeout = httpx.Timeout(20.0)
            while not self.stop.is_set():
                ready = [(n, p) for n, p in customers if busy_until[n] <= time.time()]
                if not ready:
                    time.sleep(0.1)
                    continue
                number, phone = rng.choice(ready)
                plan = rng.choice(PLANS)
                try:
                    ref = self.start(k, number, plan, phone)
                    for r in [r for r in self.ledger.orders.values() if r.number == number and r.adopted]:
                        if not (r.seen and r.seen[-1].final):
                            self.drive(k, phone, r.ref, states[number])
                    if ref is None:
                        continue
                    self.drive(k, phone, ref, states[number])
                    last = self.ledger.last(ref)
                    if last is None or not last.final:
                        # expiresAt is whole seconds, rounded down: wait past the real expiry before the next order
                        busy_until[number] = self.ledger.orders[ref].expires_at + 1.5
                except AssertionError as e:
                    self.errors.append(f"worker {index}: {e}")
                    time.sleep(0.2)

    def spawn(self) -> subprocess.Popen[bytes]:
        with open(self.d.log, "ab") as log:
            return subprocess.Popen(
                [tool("tillit-signer"), "serve", "--host", "127.0.0.1", "--port", str(self.d.port)],
                env=self.d.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        process = self.d.process
        assert process is not None
        process.send_signal(signal.SIGKILL)
        process.wait(15)
        self.d.process = None
        self.kills += 1
        with database(self.d) as db:
            for (status,) in db.execute(
                "SELECT status FROM orders WHERE status IN ('pending','approved','verifying','signing')"
            ).fetchall():
                self.states_at_kill[str(status)] += 1

    def restart(self) -> None:
        self.d.start()
        self.restarts += 1

    def killer(self, kills: int, verify_every: int = 1) -> None:
        for i in range(kills):
            if self.random.random() < 0.4:
                self.password_sent.clear()
                self.password_sent.wait(1.5)
                # Argon2id takes about 25 ms and a signing 30-60 ms more: the kill lands in either.
                time.sleep(self.random.uniform(0, 0.15))
            else:
                time.sleep(self.random.uniform(0.1, 1.0))
            self.up.clear()
            self.kill()
            if self.random.random() < 0.1:  # die again while starting and recovering
                self.d.process = self.spawn()
                time.sleep(self.random.uniform(0.05, 1.2))
                if self.d.process.poll() is None:
                    self.kill()
                    self.startup_kills += 1
                else:
                    self.d.process = None
            self.restart()
            self.check()
            if i % verify_every == 0:  # in the background, while the clients carry on
                self._verifies.append(self._verifier.submit(audit_verify, self.d))
            self.up.set()

    def run(self, kills: int, verify_every: int = 1) -> None:
        self.up.set()
        per_worker = [self._customers[i :: self._workers] for i in range(self._workers)]
        self._threads = [
            threading.Thread(target=self.worker, args=(i, cs), daemon=True) for i, cs in enumerate(per_worker)
        ]
        for t in self._threads:
            t.start()
        try:
            self.killer(kills, verify_every)
        finally:
            self.up.set()
            self.stop.set()
            for t in self._threads:
                t.join(120)
            self._verifier.shutdown(wait=True)
        for future in self._verifies:
            future.result()  # raises if `audit verify` failed after a restart
            self.audit_verifies += 1

    # -- checks --------------------------------------------------------------------------------

    def check(self) -> list[str]:
        """The store against the ledger; problems are added to the ledger's list."""
        problems: list[str] = []
        with database(self.d) as db:
            rows = {
                r[0]: r
                for r in db.execute(
                    "SELECT ref, status, hint_code, completion, signatures, kind FROM orders"
                ).fetchall()
            }
            created = Counter(
                str(r[0]) for r in db.execute("SELECT subject FROM audit WHERE event='signature.created'").fetchall()
            )
            completed = Counter(
                str(r[0]) for r in db.execute("SELECT subject FROM audit WHERE event='order.completed'").fetchall()
            )
            docs = Counter(str(r[0]) for r in db.execute("SELECT order_ref FROM documents").fetchall())
            signed_docs = Counter(
                str(r[0]) for r in db.execute("SELECT order_ref FROM documents WHERE signed IS NOT NULL").fetchall()
            )
            per_document = Counter(
                (str(r[0]), json.loads(r[1]).get("document"))
                for r in db.execute("SELECT subject, data FROM audit WHERE event='signature.created'").fetchall()
            )
        for ref, record in list(self.ledger.orders.items()):
            row = rows.get(ref)
            if row is None:
                problems.append(f"{ref}: committed order lost")
                continue
            _, status, hint, completion, _, _ = row
            last = record.seen[-1] if record.seen else None
            if last is None:
                continue
            if last.final:
                token = json.loads(completion)["token"] if completion else None
                stored = ("complete" if status == "complete" else status, None if status == "complete" else hint)
                if stored != (last.status, None if last.status == "complete" else last.hint) or (
                    last.token and token != last.token
                ):
                    problems.append(f"{ref}: final {last} changed to {status}/{hint}")
            elif not any(reachable(s, status) for s in db_states(last.status, last.hint)):
                problems.append(f"{ref}: went back from {last.status}/{last.hint} to {status}/{hint}")
        for ref, row in rows.items():
            _, status, _, _, signatures, kind = row
            if created[ref] > docs[ref]:
                problems.append(f"{ref}: {created[ref]} signatures for {docs[ref]} documents (signed twice)")
            if completed[ref] > 1:
                problems.append(f"{ref}: completed {completed[ref]} times")
            if kind == "sign" and status == "complete":
                if created[ref] != docs[ref] or signed_docs[ref] != docs[ref] or signatures != docs[ref]:
                    problems.append(f"{ref}: complete with {created[ref]} signatures for {docs[ref]} documents")
                if any(per_document[(ref, i)] != 1 for i in range(docs[ref])):
                    problems.append(f"{ref}: a document signed other than once")
            elif created[ref] or signed_docs[ref]:
                problems.append(f"{ref}: {status} but has {created[ref]} signatures (half-signed)")
            if status in ("verifying", "signing"):
                # Checked while the clients wait for the restart: nothing of theirs is running, so
                # the daemon must have undone each interrupted check and finished each signing.
                problems.append(f"{ref}: still {status} after the restart (not recovered at start)")
        self.ledger.problems.extend(problems)
        return problems

    def finish(self, k: httpx.Client) -> dict[str, int]:
        """After the last restart: wait out every order's lifetime, then each must be final and end
        as its plan ends it, or expired."""
        latest = max((r.expires_at for r in self.ledger.orders.values()), default=time.time())
        time.sleep(max(0.0, latest - time.time() + 1.5))
        outcomes: Counter[str] = Counter()
        for ref, record in self.ledger.orders.items():
            body = self.collect(k, ref)
            status, hint = body["status"], body.get("hintCode")
            end = "complete" if status == "complete" else str(hint)
            outcomes[end] += 1
            if status == "pending":
                self.ledger.problems.append(f"{ref}: still open after its lifetime ({hint})")
            elif end != "expiredTransaction" and end not in PLAN_ENDS[record.plan]:
                self.ledger.problems.append(f"{ref}: plan {record.plan} ended as {end}")
        with database(self.d) as db:
            open_rows = db.execute(
                "SELECT COUNT(*) FROM orders WHERE status IN ('pending','approved','verifying','signing')"
            ).fetchone()[0]
        if open_rows:
            self.ledger.problems.append(f"{open_rows} orders still open in the store")
        return dict(outcomes)

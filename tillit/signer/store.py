"""Persistence: a transactional store with typed operations, SQLite by default.

The domain code sees only `Store.tx()` and the `Tx` methods. SQL is written once with `?`
placeholders; a dialect turns it into what the driver wants, so a PostgreSQL store fills the
same interface with its own connection and `BEGIN`. Every state change and its audit entry are
written in one transaction.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from tillit.hsm.settings import private_dir, private_file
from tillit.signer.push import Notifier
from tillit.signer.wire import canonical_json

GENESIS = "0" * 64

MIGRATIONS: list[str] = [
    # 1: customers, devices, kiosks, orders, documents, nonces, audit
    """
    CREATE TABLE customers (
        id TEXT PRIMARY KEY, personal_number TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
        mobile TEXT NOT NULL, email TEXT NOT NULL, born TEXT NOT NULL, password_hash TEXT NOT NULL,
        failed_passwords INTEGER NOT NULL DEFAULT 0, password_locked INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL, key_label TEXT NOT NULL, cert_serial TEXT, guardian_id TEXT,
        last_method TEXT, created_at REAL NOT NULL);
    CREATE TABLE devices (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers(id), public_key BLOB NOT NULL,
        name TEXT NOT NULL, status TEXT NOT NULL, activated_at REAL NOT NULL, deactivated_at REAL);
    CREATE INDEX devices_customer ON devices(customer_id, status);
    CREATE TABLE kiosks (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, status TEXT NOT NULL,
        created_at REAL NOT NULL);
    CREATE TABLE orders (
        ref TEXT PRIMARY KEY, kind TEXT NOT NULL, customer_id TEXT, kiosk_id TEXT NOT NULL,
        reference TEXT NOT NULL, user_visible_data TEXT NOT NULL, nonce TEXT NOT NULL, method TEXT NOT NULL,
        created_at REAL NOT NULL, expires_at REAL NOT NULL, status TEXT NOT NULL, hint_code TEXT NOT NULL,
        device_id TEXT, level TEXT, approved_at REAL, completed_at REAL, completion TEXT, agreement_id TEXT,
        signatures INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX orders_customer ON orders(customer_id, status);
    CREATE INDEX orders_device ON orders(device_id, status);
    CREATE TABLE documents (
        order_ref TEXT NOT NULL REFERENCES orders(ref), idx INTEGER NOT NULL, name TEXT NOT NULL,
        content_type TEXT NOT NULL, content BLOB NOT NULL, sha256 TEXT NOT NULL, signed BLOB,
        PRIMARY KEY (order_ref, idx));
    CREATE TABLE device_nonces (
        device_id TEXT NOT NULL, nonce TEXT NOT NULL, expires_at REAL NOT NULL,
        PRIMARY KEY (device_id, nonce));
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY, at REAL NOT NULL, event TEXT NOT NULL, subject TEXT NOT NULL,
        data TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
    """,
    # 2: receipts, agreements waiting at the branch, customer sessions, the outbox
    """
    CREATE TABLE receipts (
        order_ref TEXT PRIMARY KEY REFERENCES orders(ref), customer_id TEXT NOT NULL, created_at REAL NOT NULL,
        data TEXT NOT NULL);
    CREATE TABLE agreements (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers(id), title TEXT NOT NULL,
        name TEXT NOT NULL, content BLOB NOT NULL, created_at REAL NOT NULL, signed_order TEXT, signed_at REAL);
    CREATE INDEX agreements_customer ON agreements(customer_id, signed_at);
    CREATE TABLE customer_sessions (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, kiosk_id TEXT NOT NULL, last_used REAL NOT NULL,
        expires_at REAL NOT NULL);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY, at REAL NOT NULL, channel TEXT NOT NULL, recipient TEXT NOT NULL,
        subject TEXT NOT NULL, body TEXT NOT NULL);
    """,
    # 3: code devices, app activations, staff tokens (kiosk roles)
    """
    CREATE TABLE code_devices (
        serial TEXT PRIMARY KEY, customer_id TEXT, status TEXT NOT NULL, failures INTEGER NOT NULL DEFAULT 0,
        last_counter INTEGER NOT NULL DEFAULT 0, assigned_at REAL);
    CREATE INDEX code_devices_customer ON code_devices(customer_id);
    CREATE TABLE activations (
        id TEXT PRIMARY KEY, customer_id TEXT, method TEXT NOT NULL, device_name TEXT NOT NULL,
        public_key BLOB NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL, status TEXT NOT NULL,
        sms_code_hash TEXT, email_code_hash TEXT, failures INTEGER NOT NULL DEFAULT 0, order_ref TEXT);
    ALTER TABLE kiosks ADD COLUMN role TEXT NOT NULL DEFAULT 'kiosk';
    """,
    # 4: control questions, the customer an order is about (guardian approvals), key generations
    """
    CREATE TABLE control_answers (
        customer_id TEXT NOT NULL REFERENCES customers(id), idx INTEGER NOT NULL, question TEXT NOT NULL,
        answer_hash TEXT NOT NULL, PRIMARY KEY (customer_id, idx));
    ALTER TABLE orders ADD COLUMN subject_id TEXT;
    ALTER TABLE orders ADD COLUMN answer_failures INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE customers ADD COLUMN key_generation INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE customers ADD COLUMN blocked_reason TEXT;
    """,
    # 5: anonymous feedback (no customer, no order: only the kiosk, the kind of order and the day)
    """
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY, day TEXT NOT NULL, kiosk_id TEXT NOT NULL, kind TEXT NOT NULL,
        rating INTEGER NOT NULL, comment TEXT NOT NULL);
    ALTER TABLE orders ADD COLUMN feedback_given INTEGER NOT NULL DEFAULT 0;
    """,
    # 6: audit checkpoints signed by the audit key in the HSM (signer/audit.py); `at` in whole
    # seconds and the DER signature in hex, so every engine stores exactly what was signed
    """
    CREATE TABLE audit_checkpoints (
        seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, at INTEGER NOT NULL, reason TEXT NOT NULL,
        signature TEXT NOT NULL);
    """,
    # 7: the device's approval signature (base64), checked again over the documents' bytes right
    # before the HSM signs them (signer/signing.py)
    # and whether the customer turned on login without password (biometric or app PIN) in the app
    """
    ALTER TABLE orders ADD COLUMN approval TEXT;
    ALTER TABLE devices ADD COLUMN biometric INTEGER NOT NULL DEFAULT 0;
    """,
    # 8: guesses at customer secrets admitted and not yet decided (signer/guesses.py); control
    # answers counted per customer, not per order; code-device guesses throttled per number;
    # when a signed document was first fetched (retention)
    """
    CREATE TABLE guesses_in_flight (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, secret TEXT NOT NULL, context TEXT NOT NULL,
        admitted_at REAL NOT NULL);
    CREATE INDEX guesses_in_flight_customer ON guesses_in_flight(customer_id, secret);
    CREATE TABLE code_throttles (
        personal_number TEXT PRIMARY KEY, failures INTEGER NOT NULL, throttled_until REAL NOT NULL);
    ALTER TABLE customers ADD COLUMN failed_answers INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE customers ADD COLUMN answers_locked INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE documents ADD COLUMN fetched_at REAL;
    ALTER TABLE activations ADD COLUMN personal_number TEXT;
    ALTER TABLE kiosks ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX orders_completed ON orders(status, completed_at);
    """,
    # 9: the app PIN checked by the signer (signer/device_pins.py): per device the unlock key, a
    # hash of the PIN verifier, the secret that completes the device key's wrap, wrong PINs in a row
    """
    CREATE TABLE device_pins (
        device_id TEXT PRIMARY KEY REFERENCES devices(id), unlock_key BLOB NOT NULL,
        verifier_hash TEXT NOT NULL, server_secret BLOB NOT NULL, failures INTEGER NOT NULL DEFAULT 0,
        locked_at REAL, created_at REAL NOT NULL);
    """,
]

OPEN_STATES = ("pending", "approved", "verifying", "signing")
KIOSK_KINDS = ("auth", "sign", "reset")
ALL_KINDS = ("auth", "sign", "reset", "activation", "guardian")


@dataclass
class Customer:
    id: str
    personal_number: str
    name: str
    mobile: str
    email: str
    born: str
    password_hash: str
    failed_passwords: int
    password_locked: int
    status: str
    key_label: str
    cert_serial: str | None
    guardian_id: str | None
    last_method: str | None
    created_at: float
    key_generation: int = 1
    blocked_reason: str | None = None
    failed_answers: int = 0
    answers_locked: int = 0

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "personalNumber": self.personal_number,
            "name": self.name,
            "mobile": self.mobile,
            "email": self.email,
            "born": self.born,
            "status": self.status,
            "passwordLocked": bool(self.password_locked),
            "failedPasswords": self.failed_passwords,
            "controlAnswersLocked": bool(self.answers_locked),
            "certificateSerial": self.cert_serial,
            "lastMethod": self.last_method,
        }


@dataclass
class Device:
    id: str
    customer_id: str
    public_key: bytes
    name: str
    status: str
    activated_at: float
    deactivated_at: float | None
    biometric: int = 0

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "activatedAt": self.activated_at,
            "biometric": bool(self.biometric),
        }


@dataclass
class Kiosk:
    id: str
    name: str
    token_hash: str
    status: str
    created_at: float
    role: str = "kiosk"
    stored_bytes: int = 0


@dataclass
class CodeDevice:
    serial: str
    customer_id: str | None
    status: str
    failures: int
    last_counter: int
    assigned_at: float | None


@dataclass
class Activation:
    id: str
    customer_id: str | None
    method: str
    device_name: str
    public_key: bytes
    created_at: float
    expires_at: float
    status: str
    sms_code_hash: str | None
    email_code_hash: str | None
    failures: int
    order_ref: str | None
    personal_number: str | None = None


@dataclass
class Order:
    ref: str
    kind: str
    customer_id: str | None
    kiosk_id: str
    reference: str
    user_visible_data: str
    nonce: str
    method: str
    created_at: float
    expires_at: float
    status: str
    hint_code: str
    device_id: str | None
    level: str | None
    approved_at: float | None
    completed_at: float | None
    completion: str | None
    agreement_id: str | None
    signatures: int
    subject_id: str | None = None
    answer_failures: int = 0
    feedback_given: int = 0
    approval: str | None = None

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATES


@dataclass
class StoredDocument:
    order_ref: str
    idx: int
    name: str
    content_type: str
    content: bytes
    sha256: str
    signed: bytes | None
    fetched_at: float | None = None


@dataclass
class Agreement:
    id: str
    customer_id: str
    title: str
    name: str
    content: bytes
    created_at: float
    signed_order: str | None
    signed_at: float | None


@dataclass
class AuditEntry:
    seq: int
    at: float
    event: str
    subject: str
    data: str
    prev_hash: str
    hash: str


@dataclass
class DevicePin:
    """What the signer keeps of a device's app PIN (signer/device_pins.py)."""

    device_id: str
    unlock_key: bytes
    verifier_hash: str
    server_secret: bytes
    failures: int
    locked_at: float | None
    created_at: float


@dataclass
class AuditCheckpoint:
    seq: int
    hash: str
    at: int
    reason: str
    signature: str


@functools.cache
def _columns(cls: type) -> str:
    return ", ".join(f.name for f in fields(cls))


def audit_hash(prev_hash: str, seq: int, at: float, event: str, subject: str, data: str) -> str:
    body = canonical_json([seq, repr(at), event, subject, data])
    return hashlib.sha256(prev_hash.encode() + b"\n" + body).hexdigest()


class Tx:
    """One transaction. Methods are the store's whole vocabulary.

    `last_audit_seq` is the newest entry this transaction appended (0: none); after it commits the
    store passes it to `Store.on_audit`, which signs audit checkpoints (signer/audit.py).

    The dialect bits: `placeholder` is what the driver wants for `?`, and `for_update` is appended to
    the reads whose row the caller then changes from what it read (a read-modify-write). SQLite
    serialises whole transactions (`BEGIN IMMEDIATE`), so it needs no row lock and passes "";
    PostgreSQL runs transactions concurrently at READ COMMITTED and passes " FOR UPDATE".
    """

    last_audit_seq = 0

    def __init__(self, cursor: Any, placeholder: str = "?", for_update: str = "") -> None:
        self._audit_head: tuple[int, str] | None = None
        self._cur = cursor
        self._ph = placeholder
        self._for_update = for_update

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self._ph != "?":
            sql = sql.replace("?", self._ph)
        self._cur.execute(sql, tuple(params))
        return self._cur

    def _one(self, cls: type, sql: str, params: Sequence[Any]) -> Any:
        row = self.execute(sql, params).fetchone()
        return cls(*_decode(row)) if row else None

    def _all(self, cls: type, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return [cls(*_decode(r)) for r in self.execute(sql, params).fetchall()]

    # customers
    def insert_customer(self, c: Customer) -> None:
        self.execute(f"INSERT INTO customers ({_columns(Customer)}) VALUES ({_marks(Customer)})", _values(c))

    def customer_by_number(self, number: str) -> Customer | None:
        return self._one(Customer, f"SELECT {_columns(Customer)} FROM customers WHERE personal_number=?", [number])  # type: ignore[no-any-return]

    def customer(self, customer_id: str) -> Customer | None:
        return self._one(Customer, f"SELECT {_columns(Customer)} FROM customers WHERE id=?", [customer_id])  # type: ignore[no-any-return]

    def customers(self) -> list[Customer]:
        return self._all(Customer, f"SELECT {_columns(Customer)} FROM customers ORDER BY created_at")

    def update_customer(self, customer_id: str, **changes: Any) -> None:
        sets = ", ".join(f"{k}=?" for k in changes)
        self.execute(f"UPDATE customers SET {sets} WHERE id=?", [*changes.values(), customer_id])

    def lock_customer(self, customer_id: str) -> Customer | None:
        """The customer, its row locked until this transaction ends (PostgreSQL; SQLite serialises
        whole transactions): what the guesses at its secrets are decided under."""
        return self._one(  # type: ignore[no-any-return]
            Customer, f"SELECT {_columns(Customer)} FROM customers WHERE id=?{self._for_update}", [customer_id]
        )

    def add_failure(self, customer_id: str, column: str) -> int:
        """Add one to a customer's failure counter `column` (a column name from code, never input)."""
        # Exact under concurrency on both engines: the UPDATE increments in place (never a value read
        # earlier) and holds the row's write lock until commit, so the SELECT reads this
        # transaction's own increment and nobody else's.
        self.execute(f"UPDATE customers SET {column} = {column} + 1 WHERE id=?", [customer_id])
        row = self.execute(f"SELECT {column} FROM customers WHERE id=?", [customer_id]).fetchone()
        return int(row[0])

    # guesses at secrets (signer/guesses.py)
    def insert_guess(self, guess_id: str, customer_id: str, secret: str, context: str, at: float) -> None:
        self.execute(
            "INSERT INTO guesses_in_flight (id, customer_id, secret, context, admitted_at) VALUES (?, ?, ?, ?, ?)",
            [guess_id, customer_id, secret, context, at],
        )

    def delete_guess(self, guess_id: str) -> bool:
        return bool(self.execute("DELETE FROM guesses_in_flight WHERE id=?", [guess_id]).rowcount == 1)

    def guesses_in_flight(self, customer_id: str, secret: str) -> list[tuple[str, str, float]]:
        """(id, context, admitted_at) of the customer's admitted, undecided guesses at `secret`."""
        rows = self.execute(
            "SELECT id, context, admitted_at FROM guesses_in_flight WHERE customer_id=? AND secret=?",
            [customer_id, secret],
        ).fetchall()
        return [(str(r[0]), str(r[1]), float(r[2])) for r in rows]

    def code_throttle(self, personal_number: str) -> tuple[int, float]:
        """Wrong code-device codes in a row for the number, and until when the next is refused (the
        time of the last wrong code when none is)."""
        row = self.execute(
            f"SELECT failures, throttled_until FROM code_throttles WHERE personal_number=?{self._for_update}",
            [personal_number],
        ).fetchone()
        return (int(row[0]), float(row[1])) if row else (0, 0.0)

    def set_code_throttle(self, personal_number: str, failures: int, until: float) -> None:
        if failures == 0:
            self.execute("DELETE FROM code_throttles WHERE personal_number=?", [personal_number])
            return
        self.execute(
            "INSERT INTO code_throttles (personal_number, failures, throttled_until) VALUES (?, ?, ?) "
            "ON CONFLICT (personal_number) DO UPDATE SET failures=excluded.failures, "
            "throttled_until=excluded.throttled_until",
            [personal_number, failures, until],
        )

    # devices
    def insert_device(self, d: Device) -> None:
        self.execute(f"INSERT INTO devices ({_columns(Device)}) VALUES ({_marks(Device)})", _values(d))

    def set_device_biometric(self, device_id: str, on: bool) -> None:
        self.execute("UPDATE devices SET biometric=? WHERE id=?", [int(on), device_id])

    def device(self, device_id: str) -> Device | None:
        return self._one(Device, f"SELECT {_columns(Device)} FROM devices WHERE id=?", [device_id])  # type: ignore[no-any-return]

    def active_device(self, customer_id: str) -> Device | None:
        return self._one(  # type: ignore[no-any-return]
            Device, f"SELECT {_columns(Device)} FROM devices WHERE customer_id=? AND status='active'", [customer_id]
        )

    def deactivate_devices(self, customer_id: str, at: float) -> list[str]:
        if self._for_update:
            # One active device per customer: two concurrent activations would each deactivate the
            # devices they can see and then each insert one. Locking the customer row first makes
            # the second wait, and its next statement then sees the first one's new device.
            self.execute(f"SELECT id FROM customers WHERE id=?{self._for_update}", [customer_id])
        ids = [
            r[0]
            for r in self.execute(
                "SELECT id FROM devices WHERE customer_id=? AND status='active'", [customer_id]
            ).fetchall()
        ]
        self.execute(
            "UPDATE devices SET status='inactive', deactivated_at=? WHERE customer_id=? AND status='active'",
            [at, customer_id],
        )
        return ids

    # the app PIN (signer/device_pins.py)
    def insert_device_pin(self, pin: DevicePin) -> bool:
        """Keep a device's PIN record; False when the device has one already (it is never replaced)."""
        cur = self.execute(
            f"INSERT INTO device_pins ({_columns(DevicePin)}) VALUES ({_marks(DevicePin)})"
            " ON CONFLICT (device_id) DO NOTHING",
            _values(pin),
        )
        return bool(cur.rowcount == 1)

    def device_pin(self, device_id: str, lock: bool = False) -> DevicePin | None:
        """The PIN record; `lock` holds its row until this transaction ends (PostgreSQL)."""
        return self._one(  # type: ignore[no-any-return]
            DevicePin,
            f"SELECT {_columns(DevicePin)} FROM device_pins WHERE device_id=?{self._for_update if lock else ''}",
            [device_id],
        )

    def right_device_pin(self, device_id: str) -> bool:
        """A right PIN: wrong PINs in a row back to 0, unless the device is locked (then False)."""
        cur = self.execute("UPDATE device_pins SET failures=0 WHERE device_id=? AND locked_at IS NULL", [device_id])
        return bool(cur.rowcount == 1)

    def wrong_device_pin(self, device_id: str, limit: int, at: float) -> int | None:
        """A wrong PIN: one more in a row, and the PIN record and the device locked at the `limit`-th.
        The wrong PINs in a row now, or None when the device was locked already (nothing counted).

        Exact under concurrency, as `add_failure`: the conditional UPDATE increments in place and
        holds the row until commit, so of concurrent wrong PINs each gets its own count, and the
        ones after the `limit`-th match no row."""
        cur = self.execute(
            "UPDATE device_pins SET failures = failures + 1,"
            " locked_at = CASE WHEN failures + 1 >= ? THEN ? ELSE NULL END"
            " WHERE device_id=? AND locked_at IS NULL",
            [limit, at, device_id],
        )
        if cur.rowcount != 1:
            return None
        failures = int(self.execute("SELECT failures FROM device_pins WHERE device_id=?", [device_id]).fetchone()[0])
        if failures >= limit:
            self.execute(
                "UPDATE devices SET status='locked', deactivated_at=? WHERE id=? AND status='active'", [at, device_id]
            )
        return failures

    def use_device_nonce(self, device_id: str, nonce: str, expires_at: float, now: float, prune: bool = True) -> bool:
        """Record a request nonce; False if it was seen before (a replay). `prune` also deletes the
        expired ones, a scan of the whole table: the daemon asks for it about once a second."""
        if prune:
            self.execute("DELETE FROM device_nonces WHERE expires_at < ?", [now])
        # Insert-if-absent in one statement: of two concurrent uses of one nonce (PostgreSQL), the
        # second waits on the first's key and then inserts nothing.
        cur = self.execute(
            "INSERT INTO device_nonces VALUES (?,?,?) ON CONFLICT (device_id, nonce) DO NOTHING",
            [device_id, nonce, expires_at],
        )
        return bool(cur.rowcount == 1)

    # kiosks
    def insert_kiosk(self, k: Kiosk) -> None:
        self.execute(f"INSERT INTO kiosks ({_columns(Kiosk)}) VALUES ({_marks(Kiosk)})", _values(k))

    def kiosk_by_token_hash(self, token_hash: str) -> Kiosk | None:
        return self._one(Kiosk, f"SELECT {_columns(Kiosk)} FROM kiosks WHERE token_hash=?", [token_hash])  # type: ignore[no-any-return]

    def kiosk(self, kiosk_id: str) -> Kiosk | None:
        return self._one(Kiosk, f"SELECT {_columns(Kiosk)} FROM kiosks WHERE id=?", [kiosk_id])  # type: ignore[no-any-return]

    def kiosks(self) -> list[Kiosk]:
        return self._all(Kiosk, f"SELECT {_columns(Kiosk)} FROM kiosks ORDER BY created_at")

    def revoke_kiosk(self, kiosk_id: str) -> bool:
        cur = self.execute("UPDATE kiosks SET status='revoked' WHERE id=? AND status='active'", [kiosk_id])
        return bool(cur.rowcount == 1)

    # orders
    def insert_order(self, o: Order) -> None:
        self.execute(f"INSERT INTO orders ({_columns(Order)}) VALUES ({_marks(Order)})", _values(o))

    def order(self, ref: str) -> Order | None:
        return self._one(Order, f"SELECT {_columns(Order)} FROM orders WHERE ref=?", [ref])  # type: ignore[no-any-return]

    def open_orders_for_customer(self, customer_id: str, kinds: Sequence[str] = KIOSK_KINDS) -> list[Order]:
        """Open orders of a customer; by default only those a kiosk started (not guardian or activation)."""
        marks = ",".join("?" * len(OPEN_STATES))
        kind_marks = ",".join("?" * len(kinds))
        return self._all(
            Order,
            f"SELECT {_columns(Order)} FROM orders WHERE customer_id=? AND status IN ({marks})"
            f" AND kind IN ({kind_marks}) ORDER BY created_at, ref",  # one order of row locks for all callers
            [customer_id, *OPEN_STATES, *kinds],
        )

    def pending_orders_for_device(self, device_id: str, now: float) -> list[Order]:
        return self._all(
            Order,
            f"SELECT {_columns(Order)} FROM orders WHERE device_id=? AND status='pending' AND expires_at > ?"
            " ORDER BY created_at",
            [device_id, now],
        )

    def open_orders(self) -> list[Order]:
        marks = ",".join("?" * len(OPEN_STATES))
        return self._all(Order, f"SELECT {_columns(Order)} FROM orders WHERE status IN ({marks})", OPEN_STATES)

    def transition(self, ref: str, from_states: Sequence[str], to_state: str, hint: str, **changes: Any) -> bool:
        """Move an order between states atomically; False when it was not in one of `from_states`.

        The conditional UPDATE alone decides who wins, with no `SELECT ... FOR UPDATE` first: under
        SQLite transactions are serialised; under PostgreSQL (READ COMMITTED) a second UPDATE of the
        same row waits for the first transaction to end and then re-checks its WHERE against the row
        as committed, so of any number of concurrent transitions out of a state exactly one matches
        (rowcount 1) and the others see the new state (rowcount 0). Callers act on the returned bool,
        not on an order they read earlier.
        """
        marks = ",".join("?" * len(from_states))
        sets = "".join(f", {k}=?" for k in changes)
        cur = self.execute(
            f"UPDATE orders SET status=?, hint_code=?{sets} WHERE ref=? AND status IN ({marks})",
            [to_state, hint, *changes.values(), ref, *from_states],
        )
        moved = bool(cur.rowcount == 1)
        if moved and to_state == "failed":
            # An order that ends unsigned keeps nothing of its documents (their digests are in the audit).
            self.delete_documents(ref)
        return moved

    # documents
    def insert_document(self, d: StoredDocument) -> None:
        self.execute(
            f"INSERT INTO documents ({_columns(StoredDocument)}) VALUES ({_marks(StoredDocument)})", _values(d)
        )

    def documents(self, order_ref: str) -> list[StoredDocument]:
        return self._all(
            StoredDocument,
            f"SELECT {_columns(StoredDocument)} FROM documents WHERE order_ref=? ORDER BY idx",
            [order_ref],
        )

    def document(self, order_ref: str, idx: int) -> StoredDocument | None:
        return self._one(  # type: ignore[no-any-return]
            StoredDocument,
            f"SELECT {_columns(StoredDocument)} FROM documents WHERE order_ref=? AND idx=?",
            [order_ref, idx],
        )

    def document_digests(self, order_ref: str) -> list[tuple[str, str]]:
        """(name, SHA-256 hex) of each document, in order: what a challenge names, without the bytes."""
        rows = self.execute("SELECT name, sha256 FROM documents WHERE order_ref=? ORDER BY idx", [order_ref])
        return [(str(name), str(sha256)) for name, sha256 in rows.fetchall()]

    def delete_documents(self, order_ref: str) -> int:
        """Delete an order's documents (and their signed outputs); give the bytes back to its kiosk's
        quota. Returns the documents' size as received."""
        row = self.execute(
            "SELECT COALESCE(SUM(LENGTH(content)), 0), COUNT(*) FROM documents WHERE order_ref=?", [order_ref]
        ).fetchone()
        size, count = int(row[0]), int(row[1])
        if count:
            self.execute("DELETE FROM documents WHERE order_ref=?", [order_ref])
            self.execute(
                "UPDATE kiosks SET stored_bytes = CASE WHEN stored_bytes > ? THEN stored_bytes - ? ELSE 0 END "
                "WHERE id = (SELECT kiosk_id FROM orders WHERE ref=?)",
                [size, size, order_ref],
            )
        return size

    def add_stored_bytes(self, kiosk_id: str, size: int) -> int:
        """Count `size` more document bytes against the kiosk's quota; returns the new total."""
        self.execute("UPDATE kiosks SET stored_bytes = stored_bytes + ? WHERE id=?", [size, kiosk_id])
        row = self.execute("SELECT stored_bytes FROM kiosks WHERE id=?", [kiosk_id]).fetchone()
        return int(row[0]) if row else size

    def mark_fetched(self, order_ref: str, idx: int, at: float) -> None:
        self.execute(
            "UPDATE documents SET fetched_at=? WHERE order_ref=? AND idx=? AND fetched_at IS NULL", [at, order_ref, idx]
        )

    def open_orders_expired_before(self, at: float, limit: int) -> list[Order]:
        """Open orders (other than signing) whose lifetime ended before `at`, oldest first."""
        return self._all(
            Order,
            f"SELECT {_columns(Order)} FROM orders WHERE status IN ('pending', 'approved', 'verifying')"
            " AND expires_at < ? ORDER BY expires_at LIMIT ?",
            [at, limit],
        )

    def signed_orders_to_purge(self, fetched_before: float, unfetched_before: float, limit: int) -> list[str]:
        """Completed sign orders that still hold documents: signed and fetched before `fetched_before`,
        or signed before `unfetched_before` whether fetched or not."""
        rows = self.execute(
            "SELECT o.ref FROM orders o WHERE o.status='complete' AND o.kind='sign' AND o.completed_at < ?"
            " AND EXISTS (SELECT 1 FROM documents d WHERE d.order_ref=o.ref"
            " AND (o.completed_at < ? OR d.fetched_at IS NOT NULL))"
            " AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.order_ref=o.ref AND d.fetched_at IS NULL"
            " AND o.completed_at >= ?) ORDER BY o.completed_at LIMIT ?",
            [fetched_before, unfetched_before, unfetched_before, limit],
        ).fetchall()
        return [str(r[0]) for r in rows]

    def prune_code_throttles(self, before: float) -> None:
        self.execute("DELETE FROM code_throttles WHERE throttled_until < ?", [before])

    def set_signed_document(self, order_ref: str, idx: int, signed: bytes) -> None:
        self.execute("UPDATE documents SET signed=? WHERE order_ref=? AND idx=?", [signed, order_ref, idx])

    # control questions
    def set_control_answers(self, customer_id: str, answers: Sequence[tuple[str, str]]) -> None:
        self.execute("DELETE FROM control_answers WHERE customer_id=?", [customer_id])
        for idx, (question, answer_hash) in enumerate(answers):
            self.execute("INSERT INTO control_answers VALUES (?,?,?,?)", [customer_id, idx, question, answer_hash])

    def control_answers(self, customer_id: str) -> list[tuple[str, str]]:
        rows = self.execute(
            "SELECT question, answer_hash FROM control_answers WHERE customer_id=? ORDER BY idx", [customer_id]
        ).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    def orders_about(self, subject_id: str, kind: str) -> list[Order]:
        return self._all(
            Order,
            f"SELECT {_columns(Order)} FROM orders WHERE subject_id=? AND kind=? ORDER BY created_at",
            [subject_id, kind],
        )

    def update_order(self, ref: str, **changes: Any) -> None:
        sets = ", ".join(f"{k}=?" for k in changes)
        self.execute(f"UPDATE orders SET {sets} WHERE ref=?", [*changes.values(), ref])

    # feedback
    def insert_feedback(self, day: str, kiosk_id: str, kind: str, rating: int, comment: str) -> None:
        self.execute(
            "INSERT INTO feedback (day, kiosk_id, kind, rating, comment) VALUES (?,?,?,?,?)",
            [day, kiosk_id, kind, rating, comment],
        )

    def feedback_report(self) -> list[tuple[str, str, int, float]]:
        """(kiosk id, kind, count, average rating) per kiosk and order kind."""
        rows = self.execute(
            "SELECT kiosk_id, kind, COUNT(*), AVG(rating) FROM feedback GROUP BY kiosk_id, kind ORDER BY kiosk_id, kind"
        ).fetchall()
        return [(str(r[0]), str(r[1]), int(r[2]), float(r[3])) for r in rows]

    def feedback_comments(self, kiosk_id: str) -> list[str]:
        rows = self.execute("SELECT comment FROM feedback WHERE kiosk_id=? AND comment != ''", [kiosk_id]).fetchall()
        return [str(r[0]) for r in rows]

    # code devices
    def insert_code_device(self, d: CodeDevice) -> None:
        self.execute(f"INSERT INTO code_devices ({_columns(CodeDevice)}) VALUES ({_marks(CodeDevice)})", _values(d))

    def code_device(self, serial: str) -> CodeDevice | None:
        return self._one(  # type: ignore[no-any-return]
            CodeDevice, f"SELECT {_columns(CodeDevice)} FROM code_devices WHERE serial=?{self._for_update}", [serial]
        )

    def code_device_of(self, customer_id: str) -> CodeDevice | None:
        return self._one(  # type: ignore[no-any-return]
            CodeDevice,
            # Locked (PostgreSQL): the caller checks a code against last_counter and failures and
            # writes them back; two concurrent checks must not both accept one code.
            f"SELECT {_columns(CodeDevice)} FROM code_devices WHERE customer_id=? ORDER BY assigned_at DESC"
            f"{self._for_update}",
            [customer_id],
        )

    def update_code_device(self, serial: str, **changes: Any) -> None:
        sets = ", ".join(f"{k}=?" for k in changes)
        self.execute(f"UPDATE code_devices SET {sets} WHERE serial=?", [*changes.values(), serial])

    # activations
    def insert_activation(self, a: Activation) -> None:
        self.execute(f"INSERT INTO activations ({_columns(Activation)}) VALUES ({_marks(Activation)})", _values(a))

    def activation(self, activation_id: str) -> Activation | None:
        return self._one(  # type: ignore[no-any-return]
            Activation, f"SELECT {_columns(Activation)} FROM activations WHERE id=?{self._for_update}", [activation_id]
        )

    def update_activation(self, activation_id: str, **changes: Any) -> None:
        sets = ", ".join(f"{k}=?" for k in changes)
        self.execute(f"UPDATE activations SET {sets} WHERE id=?", [*changes.values(), activation_id])

    # receipts and agreements
    def insert_receipt(self, order_ref: str, customer_id: str, at: float, data: str) -> None:
        self.execute("INSERT INTO receipts VALUES (?,?,?,?)", [order_ref, customer_id, at, data])

    def receipt(self, order_ref: str) -> str | None:
        row = self.execute("SELECT data FROM receipts WHERE order_ref=?", [order_ref]).fetchone()
        return str(row[0]) if row else None

    def insert_agreement(self, a: Agreement) -> None:
        self.execute(f"INSERT INTO agreements ({_columns(Agreement)}) VALUES ({_marks(Agreement)})", _values(a))

    def agreement(self, agreement_id: str) -> Agreement | None:
        return self._one(Agreement, f"SELECT {_columns(Agreement)} FROM agreements WHERE id=?", [agreement_id])  # type: ignore[no-any-return]

    def agreements(self, customer_id: str | None = None, waiting_only: bool = False) -> list[Agreement]:
        where, params = [], []
        if customer_id is not None:
            where.append("customer_id=?")
            params.append(customer_id)
        if waiting_only:
            where.append("signed_at IS NULL")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return self._all(Agreement, f"SELECT {_columns(Agreement)} FROM agreements{clause} ORDER BY created_at", params)

    def mark_agreement_signed(self, agreement_id: str, order_ref: str, at: float) -> None:
        self.execute(
            "UPDATE agreements SET signed_order=?, signed_at=? WHERE id=? AND signed_at IS NULL",
            [order_ref, at, agreement_id],
        )

    # customer sessions (the login's completion token, sliding idle timeout)
    def insert_session(self, session_id: str, customer_id: str, kiosk_id: str, at: float, expires_at: float) -> None:
        self.execute(
            "INSERT INTO customer_sessions VALUES (?,?,?,?,?)", [session_id, customer_id, kiosk_id, at, expires_at]
        )

    def touch_session(self, session_id: str, at: float, idle: float) -> tuple[str, str] | None:
        """Return (customer_id, kiosk_id) of a live session and extend it; None when idle too long."""
        row = self.execute(
            "SELECT customer_id, kiosk_id, last_used, expires_at FROM customer_sessions WHERE id=?", [session_id]
        ).fetchone()
        if row is None or at - float(row[2]) > idle or at > float(row[3]):
            return None
        self.execute("UPDATE customer_sessions SET last_used=? WHERE id=?", [at, session_id])
        return str(row[0]), str(row[1])

    def end_session(self, session_id: str) -> None:
        self.execute("DELETE FROM customer_sessions WHERE id=?", [session_id])

    # outbox
    def insert_outbox(self, at: float, channel: str, recipient: str, subject: str, body: str) -> None:
        self.execute(
            "INSERT INTO outbox (at, channel, recipient, subject, body) VALUES (?,?,?,?,?)",
            [at, channel, recipient, subject, body],
        )

    def outbox(self) -> list[dict[str, Any]]:
        rows = self.execute("SELECT id, at, channel, recipient, subject, body FROM outbox ORDER BY id").fetchall()
        return [dict(zip(("id", "at", "channel", "recipient", "subject", "body"), r, strict=True)) for r in rows]

    # audit
    def audit(self, event: str, subject: str, at: float, **data: Any) -> None:
        """Append an entry chained to the previous one (inside the caller's transaction).

        Reads the last entry and inserts the next, so appends must be serialised: SQLite serialises
        whole transactions; `signer.pg_store.PgTx` defers its appends to commit and takes a
        transaction-level advisory lock for them.
        """
        if self._audit_head is None:  # the second entry of a transaction follows the first without a read
            row = self.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            self._audit_head = (int(row[0]), str(row[1])) if row else (0, GENESIS)
        seq, prev = self._audit_head[0] + 1, self._audit_head[1]
        body = canonical_json(data).decode()
        digest = audit_hash(prev, seq, at, event, subject, body)
        self.execute("INSERT INTO audit VALUES (?,?,?,?,?,?,?)", [seq, at, event, subject, body, prev, digest])
        self._audit_head = (seq, digest)
        self.last_audit_seq = seq  # for the store's after-commit hook (audit checkpoints)

    def audit_entries(self, since: int = 1) -> list[AuditEntry]:
        """The entries from seq `since` on (all by default), oldest first."""
        return self._all(AuditEntry, f"SELECT {_columns(AuditEntry)} FROM audit WHERE seq>=? ORDER BY seq", [since])

    def audit_head(self) -> tuple[int, str] | None:
        row = self.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def insert_audit_checkpoint(self, cp: AuditCheckpoint) -> None:
        self.execute(
            f"INSERT INTO audit_checkpoints ({_columns(AuditCheckpoint)}) VALUES ({_marks(AuditCheckpoint)})"
            " ON CONFLICT (seq) DO NOTHING",
            _values(cp),
        )

    def audit_checkpoint(self, seq: int) -> AuditCheckpoint | None:
        return self._one(  # type: ignore[no-any-return]
            AuditCheckpoint, f"SELECT {_columns(AuditCheckpoint)} FROM audit_checkpoints WHERE seq=?", [seq]
        )

    def audit_checkpoints(self) -> list[AuditCheckpoint]:
        return self._all(AuditCheckpoint, f"SELECT {_columns(AuditCheckpoint)} FROM audit_checkpoints ORDER BY seq")

    def last_audit_checkpoint_seq(self) -> int:
        row = self.execute("SELECT MAX(seq) FROM audit_checkpoints").fetchone()
        return int(row[0] or 0)

    def count_audit(self, event: str, subject: str | None = None) -> int:
        if subject is None:
            row = self.execute("SELECT COUNT(*) FROM audit WHERE event=?", [event]).fetchone()
        else:
            row = self.execute("SELECT COUNT(*) FROM audit WHERE event=? AND subject=?", [event, subject]).fetchone()
        return int(row[0])


@functools.cache
def _marks(cls: type) -> str:
    return ",".join("?" * len(fields(cls)))


def _values(obj: Any) -> list[Any]:
    return [getattr(obj, f.name) for f in fields(obj)]


def _decode(row: Sequence[Any]) -> list[Any]:
    return [bytes(v) if isinstance(v, memoryview) else v for v in row]


class Store:
    """The store interface; `SqliteStore` is the default implementation.

    `on_audit(seq)`, when set, is called after a transaction that appended audit entries commits
    (outside it, with the newest entry's seq); an implementation calls it after its COMMIT.
    """

    on_audit: Callable[[int], None] | None = None
    # True when `read()` is local and never waits (SQLite): cheap enough to run on the event loop.
    local_reads = False

    def tx(self) -> AbstractContextManager[Tx]:  # pragma: no cover - interface
        raise NotImplementedError

    def read(self) -> AbstractContextManager[Tx]:
        """A transaction that only reads. By default an ordinary `tx()`."""
        return self.tx()

    def close(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def connect_notifier(self, notifier: Notifier) -> None:
        """Carry `notifier`'s wake-ups to other processes sharing this store. A single SQLite
        process has nobody to tell, so by default nothing happens (see `PostgresStore`)."""


class SqliteStore(Store):
    """SQLite in WAL mode with synchronous=FULL; one connection, transactions serialised."""

    def __init__(self, path: Path) -> None:
        # Password hashes, codes and documents: this user's alone, whatever the umask. SQLite gives
        # the -wal and -shm files the database file's permissions.
        private_dir(path.parent)
        private_file(path)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._lock = threading.RLock()
        self._readers = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = self._db.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = row[0] or 0
            for number, script in enumerate(MIGRATIONS, start=1):
                if number <= current:
                    continue
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for statement in script.split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                    self._db.execute("INSERT INTO schema_version VALUES (?)", (number,))
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            tx = Tx(cur)
            try:
                yield tx
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")
            finally:
                cur.close()
        if tx.last_audit_seq and self.on_audit is not None:
            self.on_audit(tx.last_audit_seq)

    local_reads = True

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read-only transaction on this thread's own connection. It takes neither the writers'
        lock nor `BEGIN IMMEDIATE`: in WAL mode a reader sees the last commit and never waits for a
        writer (or its fsync), so a lookup by key costs tens of microseconds, even on the event loop.
        The connection is opened read-only: a write in here fails instead of bypassing the lock."""
        db = getattr(self._readers, "db", None)
        if db is None:
            db = sqlite3.connect(
                self.path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None, check_same_thread=False
            )
            self._readers.db = db
            with self._lock:
                self._reader_connections.append(db)
        cur = db.cursor()
        cur.execute("BEGIN")
        try:
            yield Tx(cur)
        finally:
            cur.execute("COMMIT")
            cur.close()

    def close(self) -> None:
        with self._lock:
            for reader in self._reader_connections:
                reader.close()
            self._reader_connections.clear()
        self._db.close()


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))

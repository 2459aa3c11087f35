"""A transaction's queries about customers: their rows, the failure counters of their secrets,
their control answers, their login sessions and the messages the outbox holds for them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tillit.signer.store.queries import Queries, columns
from tillit.signer.store.records import Customer


class CustomerQueries(Queries):
    def insert_customer(self, c: Customer) -> None:
        self._insert("customers", c)

    def customer_by_number(self, number: str) -> Customer | None:
        return self._one(Customer, f"SELECT {columns(Customer)} FROM customers WHERE personal_number=?", [number])

    def customer(self, customer_id: str) -> Customer | None:
        return self._one(Customer, f"SELECT {columns(Customer)} FROM customers WHERE id=?", [customer_id])

    def customers(self) -> list[Customer]:
        return self._all(Customer, f"SELECT {columns(Customer)} FROM customers ORDER BY created_at")

    def update_customer(self, customer_id: str, **changes: Any) -> None:
        sets = ", ".join(f"{k}=?" for k in changes)
        self.execute(f"UPDATE customers SET {sets} WHERE id=?", [*changes.values(), customer_id])

    def replace_password_hash(self, customer_id: str, old: str, new: str, seal: str) -> bool:
        """Set the customer's password hash to `new` (and its seal) if it is still `old`: a password
        changed meanwhile (a reset, an administrator) is kept. Whether it was replaced."""
        cursor = self.execute(
            "UPDATE customers SET password_hash=?, password_seal=? WHERE id=? AND password_hash=?",
            [new, seal, customer_id, old],
        )
        return bool(cursor.rowcount == 1)

    def lock_customer(self, customer_id: str) -> Customer | None:
        """The customer, its row locked until this transaction ends (PostgreSQL; SQLite serialises
        whole transactions): what the guesses at its secrets are decided under."""
        return self._one(
            Customer, f"SELECT {columns(Customer)} FROM customers WHERE id=?{self._for_update}", [customer_id]
        )

    def add_failure(self, customer_id: str, column: str) -> int:
        """Add one to a customer's failure counter `column` (a column name from code, never input)."""
        # Exact under concurrency on both engines: the UPDATE increments in place (never a value read
        # earlier) and holds the row's write lock until commit, so the SELECT reads this
        # transaction's own increment and nobody else's.
        self.execute(f"UPDATE customers SET {column} = {column} + 1 WHERE id=?", [customer_id])
        row = self.execute(f"SELECT {column} FROM customers WHERE id=?", [customer_id]).fetchone()
        return int(row[0])

    def set_control_answers(self, customer_id: str, answers: Sequence[tuple[str, str]]) -> None:
        self.execute("DELETE FROM control_answers WHERE customer_id=?", [customer_id])
        for idx, (question, answer_hash) in enumerate(answers):
            self.execute("INSERT INTO control_answers VALUES (?,?,?,?)", [customer_id, idx, question, answer_hash])

    def control_answers(self, customer_id: str) -> list[tuple[str, str]]:
        rows = self.execute(
            "SELECT question, answer_hash FROM control_answers WHERE customer_id=? ORDER BY idx", [customer_id]
        ).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

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

    def insert_outbox(self, at: float, channel: str, recipient: str, subject: str, body: str) -> None:
        self.execute(
            "INSERT INTO outbox (at, channel, recipient, subject, body) VALUES (?,?,?,?,?)",
            [at, channel, recipient, subject, body],
        )

    def outbox(self) -> list[dict[str, Any]]:
        rows = self.execute("SELECT id, at, channel, recipient, subject, body FROM outbox ORDER BY id").fetchall()
        return [dict(zip(("id", "at", "channel", "recipient", "subject", "body"), r, strict=True)) for r in rows]

"""A transaction's queries about guesses at customer secrets (signer/guesses.py): the guesses
admitted and not yet decided, the throttle on code-device codes per personal number, and the
start-rate windows counted in the database when instances share it (signer/ratelimit.py)."""

from __future__ import annotations

from tillit.signer.store.queries import Queries


class GuessQueries(Queries):
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

    def prune_code_throttles(self, before: float) -> None:
        self.execute("DELETE FROM code_throttles WHERE throttled_until < ?", [before])

    def rate_window(self, scope: str, key: str, since: float) -> tuple[int, float | None]:
        """How many events (`scope`, `key`) has after `since`, and the oldest of them; locks the key
        until the transaction ends, so that a count and the event added after it are one step."""
        self._lock_key(scope, key)
        row = self.execute(
            "SELECT COUNT(*), MIN(at) FROM rate_events WHERE scope=? AND key=? AND at > ?", [scope, key, since]
        ).fetchone()
        return int(row[0]), (float(row[1]) if row[1] is not None else None)

    def add_rate_event(self, scope: str, key: str, at: float) -> None:
        self.execute("INSERT INTO rate_events (scope, key, at) VALUES (?, ?, ?)", [scope, key, at])

    def forget_rate_events(self, scope: str, before: float) -> int:
        """Delete the events of `scope` at or before `before` (out of its window); how many."""
        return int(self.execute("DELETE FROM rate_events WHERE scope=? AND at <= ?", [scope, before]).rowcount)

"""A transaction's queries about the branch office: kiosks (and staff tokens), the agreements
waiting there, the receipts of signed orders and the anonymous feedback."""

from __future__ import annotations

from tillit.signer.store.queries import Queries, columns
from tillit.signer.store.records import Agreement, Kiosk


class BranchQueries(Queries):
    def insert_kiosk(self, k: Kiosk) -> None:
        self._insert("kiosks", k)

    def kiosk_by_token_hash(self, token_hash: str) -> Kiosk | None:
        return self._one(Kiosk, f"SELECT {columns(Kiosk)} FROM kiosks WHERE token_hash=?", [token_hash])

    def kiosk(self, kiosk_id: str) -> Kiosk | None:
        return self._one(Kiosk, f"SELECT {columns(Kiosk)} FROM kiosks WHERE id=?", [kiosk_id])

    def kiosks(self) -> list[Kiosk]:
        return self._all(Kiosk, f"SELECT {columns(Kiosk)} FROM kiosks ORDER BY created_at")

    def revoke_kiosk(self, kiosk_id: str) -> bool:
        cur = self.execute("UPDATE kiosks SET status='revoked' WHERE id=? AND status='active'", [kiosk_id])
        return bool(cur.rowcount == 1)

    def insert_receipt(self, order_ref: str, customer_id: str, at: float, data: str) -> None:
        self.execute("INSERT INTO receipts VALUES (?,?,?,?)", [order_ref, customer_id, at, data])

    def receipt(self, order_ref: str) -> str | None:
        row = self.execute("SELECT data FROM receipts WHERE order_ref=?", [order_ref]).fetchone()
        return str(row[0]) if row else None

    def insert_agreement(self, a: Agreement) -> None:
        self._insert("agreements", a)

    def agreement(self, agreement_id: str) -> Agreement | None:
        return self._one(Agreement, f"SELECT {columns(Agreement)} FROM agreements WHERE id=?", [agreement_id])

    def agreements(self, customer_id: str | None = None, waiting_only: bool = False) -> list[Agreement]:
        where, params = [], []
        if customer_id is not None:
            where.append("customer_id=?")
            params.append(customer_id)
        if waiting_only:
            where.append("signed_at IS NULL")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return self._all(Agreement, f"SELECT {columns(Agreement)} FROM agreements{clause} ORDER BY created_at", params)

    def mark_agreement_signed(self, agreement_id: str, order_ref: str, at: float) -> None:
        self.execute(
            "UPDATE agreements SET signed_order=?, signed_at=? WHERE id=? AND signed_at IS NULL",
            [order_ref, at, agreement_id],
        )

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

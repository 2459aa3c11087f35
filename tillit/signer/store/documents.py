"""A transaction's queries about an order's documents: their bytes and signed outputs, when they
were fetched, when they are purged, and the bytes each kiosk holds against its quota."""

from __future__ import annotations

from tillit.signer.store.queries import Queries, columns
from tillit.signer.store.records import StoredDocument


class DocumentQueries(Queries):
    def insert_document(self, d: StoredDocument) -> None:
        self._insert("documents", d)

    def documents(self, order_ref: str) -> list[StoredDocument]:
        return self._all(
            StoredDocument,
            f"SELECT {columns(StoredDocument)} FROM documents WHERE order_ref=? ORDER BY idx",
            [order_ref],
        )

    def document(self, order_ref: str, idx: int) -> StoredDocument | None:
        return self._one(
            StoredDocument,
            f"SELECT {columns(StoredDocument)} FROM documents WHERE order_ref=? AND idx=?",
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

    def set_signed_document(self, order_ref: str, idx: int, signed: bytes) -> None:
        self.execute("UPDATE documents SET signed=? WHERE order_ref=? AND idx=?", [signed, order_ref, idx])

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

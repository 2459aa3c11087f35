"""A transaction's queries about relying parties on the BankID RP API face: their client
certificates, and what the RP API adds to each order started there (`RpOrder`).

A relying party is also a kiosks row of role "rp" (`kiosk_id`): its orders belong to it as a
kiosk's do, so the order machine (orders/, states.py) serves both faces unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from tillit.signer.store.queries import Queries, columns


@dataclass
class RelyingParty:
    name: str
    kiosk_id: str
    cert_serial: str  # hex, as `tillit-hsm ca` prints serials
    fingerprint: str  # SHA-256 of the client certificate's DER, lowercase hex
    issued_at: float
    revoked_at: float | None = None


@dataclass
class RpOrder:
    """An order's RP API part: the start tokens and the QR secret, the end user's address as the RP
    saw it, the data the user does not see (base64 as sent), the visible text's format, whether the
    RP named the customer (requirement.personalNumber), when a phone claimed it (scan or autostart),
    and the RP's completion data (JSON) once built."""

    order_ref: str
    auto_start_token: str
    qr_start_token: str
    qr_start_secret: str
    end_user_ip: str
    user_non_visible_data: str | None
    visible_data_format: str
    named_customer: int
    claimed_at: float | None = None
    completion: str | None = None


class RelyingPartyQueries(Queries):
    def insert_relying_party(self, rp: RelyingParty) -> None:
        self._insert("relying_parties", rp)

    def relying_party(self, name: str) -> RelyingParty | None:
        return self._one(RelyingParty, f"SELECT {columns(RelyingParty)} FROM relying_parties WHERE name=?", [name])

    def relying_party_by_fingerprint(self, fingerprint: str) -> RelyingParty | None:
        sql = f"SELECT {columns(RelyingParty)} FROM relying_parties WHERE fingerprint=?"
        return self._one(RelyingParty, sql, [fingerprint])

    def relying_parties(self) -> list[RelyingParty]:
        return self._all(RelyingParty, f"SELECT {columns(RelyingParty)} FROM relying_parties ORDER BY issued_at")

    def revoke_relying_party(self, name: str, at: float) -> bool:
        """Mark the RP revoked (and its kiosks row); False when it was already, or is unknown."""
        found = self.relying_party(name)
        cur = self.execute("UPDATE relying_parties SET revoked_at=? WHERE name=? AND revoked_at IS NULL", [at, name])
        if cur.rowcount != 1 or found is None:
            return False
        self.execute("UPDATE kiosks SET status='revoked' WHERE id=?", [found.kiosk_id])
        return True

    def insert_rp_order(self, o: RpOrder) -> None:
        self._insert("rp_orders", o)

    def rp_order(self, order_ref: str) -> RpOrder | None:
        return self._one(RpOrder, f"SELECT {columns(RpOrder)} FROM rp_orders WHERE order_ref=?", [order_ref])

    def rp_order_by_qr_token(self, qr_start_token: str) -> RpOrder | None:
        return self._one(RpOrder, f"SELECT {columns(RpOrder)} FROM rp_orders WHERE qr_start_token=?", [qr_start_token])

    def rp_order_by_auto_start_token(self, token: str) -> RpOrder | None:
        return self._one(RpOrder, f"SELECT {columns(RpOrder)} FROM rp_orders WHERE auto_start_token=?", [token])

    def claim_rp_order(self, order_ref: str, customer_id: str, device_id: str, at: float) -> bool:
        """Give a pending order to the phone that scanned its QR code (or was started with its
        token): False when another claimed it first or the order is no longer pending. The
        conditional UPDATE decides between two phones, as `transition` does between two moves."""
        cur = self.execute(
            "UPDATE rp_orders SET claimed_at=? WHERE order_ref=? AND claimed_at IS NULL", [at, order_ref]
        )
        if cur.rowcount != 1:
            return False
        cur = self.execute(
            "UPDATE orders SET customer_id=?, device_id=? WHERE ref=? AND status='pending'",
            [customer_id, device_id, order_ref],
        )
        return bool(cur.rowcount == 1)

    def set_rp_completion(self, order_ref: str, completion: str) -> bool:
        """Keep the RP's completion data, once: False when it was already kept."""
        cur = self.execute(
            "UPDATE rp_orders SET completion=? WHERE order_ref=? AND completion IS NULL", [completion, order_ref]
        )
        return bool(cur.rowcount == 1)

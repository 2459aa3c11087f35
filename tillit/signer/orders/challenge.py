"""What the phone signs to approve an order (canonical encoding: signer/wire.py)."""

from __future__ import annotations

from typing import Any

from tillit.signer.store.records import Order
from tillit.signer.store.tx import Tx


def challenge(tx: Tx, order: Order, digests: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """The order's challenge. `digests`, (name, SHA-256 hex) per document, replaces the digests stored
    at order start, to check an approval against the documents' bytes as they are now."""
    kiosk = tx.kiosk(order.kiosk_id)
    if digests is None:
        digests = tx.document_digests(order.ref)
    return {
        "v": 1,
        "kind": order.kind,
        "method": order.method,
        "orderRef": order.ref,
        "kiosk": {"id": order.kiosk_id, "name": kiosk.name if kiosk else "Tillit BankID"},
        "userVisibleData": order.user_visible_data,
        "documents": [{"name": name, "sha256": sha256} for name, sha256 in digests],
        "nonce": order.nonce,
        "expiresAt": int(order.expires_at),
    }

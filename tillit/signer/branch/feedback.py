"""'Me ynskjer di tilbakemelding!': ratings after a login or signature, stored without identity.

A feedback row holds only the kiosk, the kind of order, the day, the rating and the comment; the
order is only marked as answered, so the row cannot be joined back to the customer.
"""

from __future__ import annotations

import time
from typing import Any

from tillit.signer import errors
from tillit.signer.context import SignerContext
from tillit.signer.kiosk_orders import kiosk_order
from tillit.signer.states import OrderStatus
from tillit.signer.store.records import Kiosk


class Feedback:
    def __init__(self, context: SignerContext) -> None:
        self.context = context

    def give(self, kiosk: Kiosk, order_ref: str, rating: int, comment: str) -> None:
        if not 1 <= rating <= 5:
            raise errors.InvalidInput("the rating is 1 to 5")
        comment = " ".join(comment.split())[:500]
        with self.context.store.tx() as tx:
            order = kiosk_order(self.context, tx, kiosk, order_ref)
            if order.status != OrderStatus.COMPLETE:
                raise errors.Conflict("feedback is asked for after a completed login or signature")
            if order.feedback_given:
                raise errors.Conflict("feedback for this order has already been given")
            tx.update_order(order_ref, feedback_given=1)
            day = time.strftime("%Y-%m-%d", time.gmtime(self.context.clock()))
            tx.insert_feedback(day, kiosk.id, order.kind, rating, comment)

    def report(self) -> list[dict[str, Any]]:
        with self.context.store.tx() as tx:
            names = {k.id: k.name for k in tx.kiosks()}
            rows = tx.feedback_report()
        return [
            {"kiosk": names.get(kiosk_id, kiosk_id), "kind": kind, "count": count, "average": round(average, 2)}
            for kiosk_id, kind, count, average in rows
        ]

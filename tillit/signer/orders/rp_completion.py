"""The completion data a relying party collects (BankID RP API v6.0 `completionData`), built once
for a completed RP order and kept with it.

- `user`: personal number and name, the name split at its last space into givenName and surname.
- `device`: `ipAddress`, the end user's address as the RP gave it at the start (Tillit does not
  record the phone's), and `uhi`, a stable pseudonym of the phone that approved: base64url of
  SHA-256 over "tillit-uhi-v1\\n" and the device's id.
- `bankIdIssueDate`: the customer certificate's notBefore date (UTC), YYYY-MM-DD.
- `stepUp`: {"mrtd": false}; Tillit does no passport check.
- `signature`: base64 of a DER CMS SignedData by the customer's HSM key with the content inside
  (encapsulated): the UTF-8 JSON of `signed_content`, sorted keys and no whitespace. Verify with
  `openssl cms -verify -inform DER -in signature.der -CAfile ca.pem -purpose any`, which prints
  the JSON (docs/rp-api.md).
- `ocspResponse`: base64 of a DER OCSP response of the Tillit CA for the customer certificate
  (`openssl ocsp -respin ocsp.der -CAfile ca.pem -issuer issuing.pem -cert customer.pem`).

The signature and the OCSP answer are made at the first collect that finds the order complete (after
the customer's password was accepted), then kept, so every later collect answers the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from asn1crypto import x509

from tillit.signer import errors
from tillit.signer.context import SignerContext
from tillit.signer.store.records import Customer, Order
from tillit.signer.store.relying_parties import RpOrder
from tillit.signer.wire import canonical_json


def unique_hardware_id(device_id: str) -> str:
    """`uhi`: the same for every order the device approves; reveals nothing of the device's id."""
    return base64.urlsafe_b64encode(hashlib.sha256(b"tillit-uhi-v1\n" + device_id.encode()).digest()).decode()[:43]


def signed_content(order: Order, rp: RpOrder, rp_name: str, customer: Customer, at: float) -> bytes:
    """What the customer's key signs: the order as the RP started it and as the phone showed it."""
    return canonical_json(
        {
            "v": 1,
            "orderRef": order.ref,
            "kind": order.kind,
            "relyingParty": rp_name,
            "personalNumber": customer.personal_number,
            "userVisibleData": base64.b64encode(order.user_visible_data.encode()).decode(),
            "userVisibleDataFormat": rp.visible_data_format,
            "userNonVisibleData": rp.user_non_visible_data,
            "endUserIp": rp.end_user_ip,
            "signedAt": datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )


class RpCompletions:
    def __init__(self, context: SignerContext) -> None:
        self.context = context

    def completion(self, order: Order, rp: RpOrder) -> dict[str, Any]:
        """The order's completion data (aliases as on the wire), built and kept at the first call."""
        if rp.completion is not None:
            return dict(json.loads(rp.completion))
        context = self.context
        with context.order_lock(order.ref):  # one HSM signature per order, not one per collector
            with context.store.read() as tx:
                kept = tx.rp_order(order.ref)
                customer = tx.customer(order.customer_id) if order.customer_id else None
                device = tx.device(order.device_id) if order.device_id else None
                kiosk = tx.kiosk(order.kiosk_id)
            if kept is not None and kept.completion is not None:
                return dict(json.loads(kept.completion))
            if customer is None or order.device_id is None or kiosk is None:
                raise errors.Conflict("the order has no customer or device")  # cannot happen for a complete order
            refusal = context.seals.signing_refusal(order, customer, device)
            if refusal is not None:  # the order was completed in the database, not by Tillit
                raise errors.Conflict(f"the order cannot be completed: {refusal}", "orderNotGranted")
            data = self._build(order, rp, kiosk.name, customer, order.device_id)
            with context.store.tx() as tx:
                if not tx.set_rp_completion(order.ref, json.dumps(data, separators=(",", ":"))):
                    kept = tx.rp_order(order.ref)  # another instance kept its own first: answer that
                    assert kept is not None and kept.completion is not None
                    return dict(json.loads(kept.completion))
        return data

    def _build(self, order: Order, rp: RpOrder, rp_name: str, customer: Customer, device_id: str) -> dict[str, Any]:
        context = self.context
        certificate_der = context.keys.certificate(customer.key_label)
        if certificate_der is None:
            raise errors.Conflict("the customer has no certificate")
        certificate = x509.Certificate.load(certificate_der)
        content = signed_content(order, rp, rp_name, customer, context.clock())
        # Imported here: it brings pyHanko's CAdES attributes (about 0.4 s to import), which every
        # administrator's command would pay, and only an RP order's completion signs.
        from tillit.signer.orders.cms import detached_cms

        signature = detached_cms(
            lambda digest: context.keys.sign_digest(customer.key_label, digest),
            certificate_der,
            context.ca.chain(),
            content,
            encapsulated=True,
        )
        ocsp = context.ca.ocsp_responses_for([certificate])[0]
        given, _, surname = customer.name.rpartition(" ")
        return {
            "user": {
                "personalNumber": customer.personal_number,
                "name": customer.name,
                "givenName": given or customer.name,
                "surname": surname,
            },
            "device": {"ipAddress": rp.end_user_ip, "uhi": unique_hardware_id(device_id)},
            "stepUp": {"mrtd": False},
            "bankIdIssueDate": certificate.not_valid_before.astimezone(UTC).date().isoformat(),
            "signature": base64.b64encode(signature).decode(),
            "ocspResponse": base64.b64encode(ocsp).decode(),
        }

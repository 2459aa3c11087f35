"""Agreements waiting at the branch, and the customer session that lists them at the kiosk.

A completed login opens a customer session (its id is the order ref, carried as the JWT's `jti`);
it ends when it has been idle for the kiosk's idle timeout, or when its token expires.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from tillit.signer import errors
from tillit.signer.context import SignerContext
from tillit.signer.customers.lookup import find_customer
from tillit.signer.document_checks import check_pdf
from tillit.signer.pdf.sniffing import looks_like_pdf
from tillit.signer.store.records import Agreement, Customer, Kiosk
from tillit.signer.tokens import verify_jwt


class Agreements:
    def __init__(self, context: SignerContext) -> None:
        self.context = context

    def add(self, personal_number: str, title: str, name: str, content: bytes) -> Agreement:
        """An agreement (a PDF) waiting for the customer to sign it at a kiosk."""
        context = self.context
        title = title.strip()
        if not title or len(title) > 200:
            raise errors.InvalidInput("a title is 1-200 characters")
        if not content:
            raise errors.InvalidInput("the agreement document is empty")
        if len(content) > context.settings.max_document_bytes:
            raise errors.TooLarge(f"the document is larger than {context.settings.max_document_bytes} bytes")
        if not looks_like_pdf("", content):  # check_pdf would call it "a PDF that cannot be signed"
            raise errors.InvalidInput(f"document '{name}' is not a PDF (it has no %PDF- header): agreements are PDFs")
        check_pdf(content, name)
        customer = find_customer(context, personal_number)
        at = context.clock()
        agreement = Agreement(
            id=str(uuid.uuid4()),
            customer_id=customer.id,
            title=title,
            name=(name or "avtale.pdf")[:200],
            content=content,
            created_at=at,
            signed_order=None,
            signed_at=None,
        )
        with context.store.tx() as tx:
            tx.insert_agreement(agreement)
            tx.audit(
                "agreement.added", agreement.id, at, customer=customer.id, sha256=hashlib.sha256(content).hexdigest()
            )
        return agreement

    def all(self, personal_number: str | None = None) -> list[Agreement]:
        customer_id = find_customer(self.context, personal_number).id if personal_number else None
        with self.context.store.tx() as tx:
            return tx.agreements(customer_id)

    def session_customer(self, kiosk: Kiosk, token: str) -> Customer:
        """The customer of a live session at `kiosk`, from the login's completion token; extends the
        session. The token opens nothing at another kiosk than the one it was issued to (`aud`)."""
        context = self.context
        claims = verify_jwt(token, context.tokens.jwks())
        if claims is None or claims.get("kind") != "auth" or claims.get("aud") != kiosk.id:
            raise errors.Unauthorized("the customer session is not valid", "sessionInvalid")
        at = context.clock()
        with context.store.tx() as tx:
            found = tx.touch_session(str(claims.get("jti")), at, context.settings.customer_session_seconds)
            if found is None:
                raise errors.Unauthorized("the customer session has ended", "sessionExpired")
            customer = tx.customer(found[0])
        if customer is None or found[1] != kiosk.id or customer.status != "active":
            raise errors.Unauthorized("the customer session has ended", "sessionExpired")
        return customer

    def end_session(self, kiosk: Kiosk, token: str) -> None:
        claims = verify_jwt(token, self.context.tokens.jwks())
        if claims is not None and claims.get("aud") == kiosk.id:
            with self.context.store.tx() as tx:
                tx.end_session(str(claims.get("jti")))

    def waiting(self, kiosk: Kiosk, token: str) -> list[dict[str, Any]]:
        customer = self.session_customer(kiosk, token)
        with self.context.store.tx() as tx:
            found = tx.agreements(customer.id, waiting_only=True)
        return [
            {
                "id": a.id,
                "title": a.title,
                "name": a.name,
                "size": len(a.content),
                "sha256": hashlib.sha256(a.content).hexdigest(),
                "createdAt": a.created_at,
            }
            for a in found
        ]

    def document(self, kiosk: Kiosk, token: str, agreement_id: str) -> Agreement:
        customer = self.session_customer(kiosk, token)
        with self.context.store.tx() as tx:
            agreement = tx.agreement(agreement_id)
        if agreement is None or agreement.customer_id != customer.id:
            raise errors.NotFound("no such agreement for this customer")
        return agreement

    def for_sign_order(self, kiosk: Kiosk, personal_number: str, agreement_id: str) -> Agreement:
        """The agreement a kiosk asks to sign: it must be this customer's and still waiting."""
        with self.context.store.tx() as tx:
            agreement = tx.agreement(agreement_id)
            customer = tx.customer_by_number(personal_number)
        if agreement is None or customer is None or agreement.customer_id != customer.id:
            raise errors.NotFound("no such agreement for this customer")
        if agreement.signed_at is not None:
            raise errors.Conflict("this agreement is already signed", "alreadySigned")
        return agreement

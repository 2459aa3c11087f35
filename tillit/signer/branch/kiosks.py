"""Kiosks and their bearer tokens: a token is shown once and kept only as its SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from tillit.signer import errors
from tillit.signer.context import SignerContext
from tillit.signer.store.records import Kiosk
from tillit.signer.wire import visible_text_problem


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Kiosks:
    def __init__(self, context: SignerContext) -> None:
        self.context = context

    def add_kiosk(self, name: str, role: str = "kiosk") -> tuple[Kiosk, str]:
        """A new kiosk (or staff client, by `role`) and its token."""
        context = self.context
        name = name.strip()
        if not name or len(name) > 100:
            raise errors.InvalidInput("a kiosk name is 1-100 characters")
        problem = visible_text_problem(name, lines=False)  # phones show it: "Innlogging hos <name>"
        if problem:
            raise errors.InvalidInput(f"a kiosk name {problem}")
        token = "tk_" + secrets.token_urlsafe(32)
        kiosk = Kiosk(
            id=str(uuid.uuid4()),
            name=name,
            token_hash=hash_token(token),
            status="active",
            created_at=context.clock(),
            role=role,
        )
        with context.store.tx() as tx:
            tx.insert_kiosk(kiosk)
            tx.audit("kiosk.added", kiosk.id, context.clock(), name=name, role=role)
        return kiosk, token

    def kiosks(self) -> list[Kiosk]:
        with self.context.store.tx() as tx:
            return tx.kiosks()

    def revoke_kiosk(self, kiosk_ref: str) -> Kiosk:
        with self.context.store.tx() as tx:
            match = [k for k in tx.kiosks() if k.id == kiosk_ref or k.name == kiosk_ref]
            if len(match) != 1:
                raise errors.NotFound("no single kiosk with that id or name")
            if not tx.revoke_kiosk(match[0].id):
                raise errors.Conflict("the kiosk is already revoked")
            tx.audit("kiosk.revoked", match[0].id, self.context.clock())
            return match[0]

    def kiosk_for_token(self, token: str) -> Kiosk:
        with self.context.store.read() as tx:
            kiosk = tx.kiosk_by_token_hash(hash_token(token))
        if kiosk is None or kiosk.status != "active":
            raise errors.Unauthorized("unknown or revoked kiosk token")
        return kiosk

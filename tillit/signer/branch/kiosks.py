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


def _kiosks(rows: list[Kiosk]) -> list[Kiosk]:
    """The kiosks and staff clients among the kiosks table's `rows`: those of role "rp" are relying
    parties' (`relying_parties`)."""
    return [k for k in rows if k.role != "rp"]


class Kiosks:
    def __init__(self, context: SignerContext) -> None:
        self.context = context

    def add_kiosk(self, name: str, role: str = "kiosk") -> tuple[Kiosk, str]:
        """A new kiosk (or staff client, by `role`) and its token. Names may repeat: the kiosks of one
        branch can all carry the branch's name, which is what the phone shows ("Innlogging hos ...")."""
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
        """The kiosks and staff clients, oldest first; not the relying parties' rows (`rps list`)."""
        with self.context.store.tx() as tx:
            return _kiosks(tx.kiosks())

    def revoke_kiosk(self, kiosk_ref: str) -> Kiosk:
        """Revoke the kiosk or staff client with id or name `kiosk_ref`: NotFound when there is none
        (naming `rps revoke` for a relying party's name), Conflict when it is already revoked or the
        name is an active one's more than once."""
        with self.context.store.tx() as tx:
            rows = tx.kiosks()
            match = [k for k in _kiosks(rows) if k.id == kiosk_ref or k.name == kiosk_ref]
            active = [k for k in match if k.status == "active"]
            if not match:
                if any(k.role == "rp" and kiosk_ref in (k.id, k.name) for k in rows):
                    raise errors.NotFound(f"'{kiosk_ref}' is a relying party: `tillit-signer rps revoke` revokes it")
                raise errors.NotFound(f"no kiosk with the id or name '{kiosk_ref}'")
            if not active:
                raise errors.Conflict(f"the kiosk '{match[0].name}' is already revoked")
            if len(active) > 1:  # a branch's kiosks may share its name
                raise errors.Conflict(f"{len(active)} active kiosks are named '{kiosk_ref}': revoke each by its id")
            if not tx.revoke_kiosk(active[0].id):
                raise errors.Conflict(f"the kiosk '{active[0].name}' is already revoked")
            tx.audit("kiosk.revoked", active[0].id, self.context.clock())
            return active[0]

    def kiosk_for_token(self, token: str) -> Kiosk:
        with self.context.store.read() as tx:
            kiosk = tx.kiosk_by_token_hash(hash_token(token))
        if kiosk is None or kiosk.status != "active":
            raise errors.Unauthorized("unknown or revoked kiosk token")
        return kiosk

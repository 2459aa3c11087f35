"""Relying parties on the BankID RP API face: their TLS client certificates, issued by the Tillit CA
(as BankID issues RP certificates), listed and revoked; and the RP a client certificate belongs to.

An RP is also a kiosks row of role "rp" named as the RP, so its orders are a kiosk's orders to the
order machine and the phone shows the RP's name as the requester, as it shows a kiosk's branch. That
row has no usable bearer token (its `token_hash` is no SHA-256 of any token), so the RP reaches the
signer only through the RP face, by its certificate.
"""

from __future__ import annotations

import hashlib
import uuid

from asn1crypto import x509

from tillit.signer import errors
from tillit.signer.context import SignerContext
from tillit.signer.store.records import Kiosk
from tillit.signer.store.relying_parties import RelyingParty

CLIENT_CERTIFICATE_DAYS = 365 * 2


def fingerprint(certificate_der: bytes) -> str:
    """How the store finds an RP by the certificate it presents: SHA-256 of the DER, lowercase hex."""
    return hashlib.sha256(certificate_der).hexdigest()


class RelyingParties:
    def __init__(self, context: SignerContext) -> None:
        self.context = context

    def add(self, name: str, public_key_der: bytes, days: int = CLIENT_CERTIFICATE_DAYS) -> x509.Certificate:
        """A new RP named `name` and its client certificate for the key `public_key_der`
        (SubjectPublicKeyInfo); 409 when the name is taken."""
        context = self.context
        name = name.strip()
        if not name or len(name) > 100 or not name.isprintable():
            raise errors.InvalidInput("a relying party's name is 1-100 printable characters")
        with context.store.read() as tx:
            if tx.relying_party(name) is not None:
                raise errors.Conflict(f"a relying party named '{name}' exists (names are never reused: choose another)")
        cert = context.ca.issue_server_certificate(public_key_der, [name], days, purpose="client_auth")
        at = context.clock()
        print_ = fingerprint(cert.dump())
        kiosk = Kiosk(
            id=str(uuid.uuid4()), name=name, token_hash=f"rp:{print_}", status="active", created_at=at, role="rp"
        )
        rp = RelyingParty(
            name=name, kiosk_id=kiosk.id, cert_serial=f"{cert.serial_number:x}", fingerprint=print_, issued_at=at
        )
        with context.store.tx() as tx:
            if tx.relying_party(name) is not None:  # added meanwhile: the certificate stays unused
                raise errors.Conflict(f"a relying party named '{name}' exists")
            tx.insert_kiosk(kiosk)
            tx.insert_relying_party(rp)
            tx.audit("rp.added", kiosk.id, at, name=name, serial=rp.cert_serial)
        return cert

    def list(self) -> list[RelyingParty]:
        with self.context.store.read() as tx:
            return tx.relying_parties()

    def revoke(self, name: str) -> RelyingParty:
        """Refuse the RP's certificate from now on, and revoke it at the CA (CRL and OCSP say so)."""
        context = self.context
        at = context.clock()
        with context.store.tx() as tx:
            found = tx.relying_party(name)
            if found is None:
                raise errors.NotFound(f"no relying party named '{name}'")
            if not tx.revoke_relying_party(name, at):
                raise errors.Conflict(f"the relying party '{name}' is already revoked")
            tx.audit("rp.revoked", found.kiosk_id, at, name=name, serial=found.cert_serial)
        context.ca.revoke(int(found.cert_serial, 16), "cessationOfOperation")
        found.revoked_at = at
        return found

    def for_certificate(self, certificate_der: bytes | None) -> Kiosk:
        """The kiosks row of the RP whose client certificate this is; 401 `unauthorized` for none, one
        Tillit did not issue to an RP, or a revoked RP's."""
        if not certificate_der:
            raise errors.Unauthorized("a client certificate is required", "unauthorized")
        with self.context.store.read() as tx:
            rp = tx.relying_party_by_fingerprint(fingerprint(certificate_der))
            kiosk = tx.kiosk(rp.kiosk_id) if rp is not None else None
        if rp is None or kiosk is None:
            raise errors.Unauthorized("this client certificate belongs to no relying party", "unauthorized")
        if rp.revoked_at is not None or kiosk.status != "active":
            raise errors.Unauthorized(f"the relying party '{rp.name}' is revoked", "unauthorized")
        return kiosk

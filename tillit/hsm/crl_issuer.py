"""The CA's certificate revocation lists, signed in the HSM: the issuing CA's (every certificate it
revoked) and the root's (empty: only a new CA would revoke the issuing CA)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from asn1crypto import crl, x509

from tillit.hsm.ca_ledger import CaLedger, IssuedCertificate, KeptCrl
from tillit.hsm.cert_profiles import now_seconds, signature_algorithm
from tillit.hsm.client import Hsm

# The root's CRL: nothing but a new CA revokes the issuing CA, so it is signed seldom.
ROOT_CRL_LIFETIME = timedelta(days=30)


class CrlIssuer:
    """Signs the CRLs of the CA whose root and issuing keys are `root_label` and `issuing_label`;
    `certificate(label)` gives a CA certificate. Thread-safe."""

    def __init__(
        self,
        hsm: Hsm,
        ledger: CaLedger,
        certificate: Callable[[str], x509.Certificate],
        root_label: str,
        issuing_label: str,
    ) -> None:
        self.hsm = hsm
        self.ledger = ledger
        self._certificate = certificate
        self.root_label = root_label
        self.issuing_label = issuing_label
        self._root_lock = threading.Lock()
        self._root: tuple[datetime, bytes] | None = None

    def shared_crl(self, fresh_for: float, hours: int = 24) -> bytes:
        """The newest issuing-CA CRL that any process sharing the ledger made (`issuing_crl` keeps
        each), while it lists the revocations the ledger has now and is younger than `fresh_for`
        seconds; else a new one. Instances behind one load balancer then hand out one CRL, and its
        number never goes back from one answer to the next."""
        entries = self.ledger.revoked()
        kept = self.ledger.newest_crl()
        if kept is not None and kept.revoked == revoked_key(entries) and time.time() - kept.made_at < fresh_for:
            return kept.der
        return self._issuing_crl(entries, hours)

    def issuing_crl(self, hours: int = 24) -> bytes:
        """A new CRL of the issuing CA (DER), with every certificate it revoked; an entry's
        reasonCode is left out when the reason is unspecified (RFC 5280 5.3.1). Kept in the ledger
        as the newest (`shared_crl`)."""
        return self._issuing_crl(self.ledger.revoked(), hours)

    def _issuing_crl(self, entries: list[IssuedCertificate], hours: int) -> bytes:
        made_at = time.time()
        number = self.ledger.next_crl_number()
        revoked = [
            {
                "user_certificate": entry.serial,
                "revocation_date": x509.Time({"utc_time": entry.revoked_at}),
                **(
                    {"crl_entry_extensions": [{"extn_id": "crl_reason", "critical": False, "extn_value": entry.reason}]}
                    if entry.reason and entry.reason != "unspecified"
                    else {}
                ),
            }
            for entry in entries
            if entry.revoked_at is not None
        ]
        der = self._signed_crl(self.issuing_label, revoked, timedelta(hours=hours), number)
        self.ledger.keep_crl(KeptCrl(number, made_at, revoked_key(entries), der))
        return der

    def root_crl(self) -> bytes:
        """The root's CRL (DER), named by the issuing CA's certificate: empty, since only a new CA
        would revoke the issuing CA. Signed in the token when the last one is half way through its
        `ROOT_CRL_LIFETIME`, so that fetching it makes the HSM sign nothing."""
        with self._root_lock:
            if self._root is not None and now_seconds() < self._root[0]:
                return self._root[1]
            der = self._signed_crl(self.root_label, [], ROOT_CRL_LIFETIME, self.ledger.next_crl_number(root=True))
            self._root = (now_seconds() + ROOT_CRL_LIFETIME / 2, der)
            return der

    def _signed_crl(
        self, issuer_label: str, revoked: list[dict[str, object]], lifetime: timedelta, number: int
    ) -> bytes:
        issuer = self._certificate(issuer_label)
        now = now_seconds()
        algorithm = signature_algorithm(self.hsm.algorithm(issuer_label))
        tbs = crl.TbsCertList(
            {
                "version": "v2",
                "signature": algorithm,
                "issuer": issuer.subject,
                "this_update": x509.Time({"utc_time": now}),
                "next_update": x509.Time({"utc_time": now + lifetime}),
                "revoked_certificates": revoked or None,
                "crl_extensions": [
                    {"extn_id": "crl_number", "critical": False, "extn_value": number},
                    {
                        "extn_id": "authority_key_identifier",
                        "critical": False,
                        "extn_value": {"key_identifier": issuer.key_identifier},
                    },
                ],
            }
        )
        if not revoked:
            del tbs["revoked_certificates"]
        signature = self.hsm.sign(issuer_label, tbs.dump())
        signed = crl.CertificateList({"tbs_cert_list": tbs, "signature_algorithm": algorithm, "signature": signature})
        return bytes(signed.dump())


def revoked_key(entries: list[IssuedCertificate]) -> str:
    """The revoked serials (hex, sorted), as a kept CRL names what it lists."""
    return ",".join(sorted(f"{entry.serial:x}" for entry in entries if entry.revoked_at is not None))

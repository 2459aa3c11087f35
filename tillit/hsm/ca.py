"""A certificate authority whose keys live in the token: root, issuing CA and OCSP responder.

Certificates, CRLs and OCSP responses are built with asn1crypto and their to-be-signed part is
signed in the HSM. The ledger of issued and revoked certificates is a small SQLite file in
TILLIT_HOME; the certificates themselves are also stored on the token beside their keys.

The chain validates end to end with revocation checking: the issuing CA's certificate names the
root's CRL and the root's certificate (DER) under the public URL given to `init`, which must be the
signer's (`tillit-hsm ca init --public-url`, by default the signer's own setting). A CA made before
these pointers existed keeps its issuing CA certificate without them (`init` refuses to run again;
the way forward is a new token and CA), while its customers' new certificates get the new profile
and its OCSP responder certificate is replaced by a short-lived one at the daemon's next start.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from asn1crypto import algos, core, crl, keys, ocsp, x509
from cryptography.hazmat.primitives import serialization

from tillit import der
from tillit.hsm import errors
from tillit.hsm.client import Hsm
from tillit.hsm.keys import Algorithm

ROOT_LABEL = "tillit-root-ca"
ISSUING_LABEL = "tillit-issuing-ca"
OCSP_LABEL = "tillit-ocsp"
TSA_LABEL = "tillit-tsa"

# RFC 5280 5.3.1 CRLReason names, each with asn1crypto's name for it (which the ledger stores).
# removeFromCRL is left out: it only says, in a delta CRL, that an entry is gone.
REVOCATION_REASONS = {
    "unspecified": "unspecified",
    "keyCompromise": "key_compromise",
    "cACompromise": "ca_compromise",
    "affiliationChanged": "affiliation_changed",
    "superseded": "superseded",
    "cessationOfOperation": "cessation_of_operation",
    "certificateHold": "certificate_hold",
    "privilegeWithdrawn": "privilege_withdrawn",
    "aACompromise": "aa_compromise",
}
# Any spelling (keyCompromise, key_compromise, key-compromise) by its letters alone.
_REASON_BY_LETTERS = {rfc.lower(): rfc for rfc in REVOCATION_REASONS}

# The signer's public URL when neither TILLIT_PUBLIC_URL nor host and port say otherwise.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8700"
# Where, under the public URL, the root's CRL is (named by the issuing CA's certificate).
_ROOT_CRL_PATH = "/v1/crl/root"

# How long the OCSP responder's certificate lives (it carries id-pkix-ocsp-nocheck, so nothing can
# revoke it: RFC 6960 4.2.2.2.1 asks for a short life), and how long before its end it is renewed.
OCSP_CERTIFICATE_LIFETIME = timedelta(days=30)
OCSP_CERTIFICATE_RENEWAL = timedelta(days=7)
# The root's CRL: nothing but a new CA revokes the issuing CA, so it is signed seldom.
ROOT_CRL_LIFETIME = timedelta(days=30)

# The certificate policy under which customer certificates are issued. 1.3.6.1.4.1.32473 is the
# private-enterprise number RFC 5612 reserves for documentation: Tillit has no number of its own
# yet. Register one with IANA (free) and put it here before the first production certificate.
TILLIT_POLICY_OID = "1.3.6.1.4.1.32473.1.1.1"
# ETSI EN 319 411-1 NCP (Normalized Certificate Policy): the keys are the CA's customers' keys in
# Tillit's HSM and the certificates are not qualified (Tillit is no qualified trust service provider).
ETSI_NCP_OID = "0.4.0.2042.1.1"
# EN 319 412-1 5.1.3: the subject's serialNumber is "UN:NO-" (a national scheme, "UN" as Norwegian
# BankID uses for its own personal identifier) and then Tillit's persistent id of the customer,
# never the national identity number.
PERSON_ID_SCHEME = "UN:NO-"
# EN 319 412-1 5.1.3 / RFC 3739: the QCStatement saying the serialNumber follows those semantics.
_QC_STATEMENTS = "1.3.6.1.5.5.7.1.3"
_QCS_PKIX_SYNTAX_V2 = "1.3.6.1.5.5.7.11.2"
_SEMANTICS_ID_NATURAL = "0.4.0.194121.1.1"


@dataclass(frozen=True)
class IssuedCertificate:
    serial: int
    key_label: str
    subject: str
    not_before: datetime
    not_after: datetime
    revoked_at: datetime | None
    reason: str | None


class CaLedger:
    """Issued certificates, revocations and the CRL numbers of the issuing CA and the root (SQLite,
    serialised by a lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._lock = threading.Lock()
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS certificates (
                serial TEXT PRIMARY KEY, key_label TEXT NOT NULL, subject TEXT NOT NULL,
                not_before TEXT NOT NULL, not_after TEXT NOT NULL, der BLOB NOT NULL,
                revoked_at TEXT, reason TEXT);
            CREATE TABLE IF NOT EXISTS crl_numbers (number INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT);
            CREATE TABLE IF NOT EXISTS root_crl_numbers (number INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT);
            """
        )

    def close(self) -> None:
        self._db.close()

    def add(self, serial: int, key_label: str, cert: x509.Certificate) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO certificates (serial, key_label, subject, not_before, not_after, der)"
                " VALUES (?,?,?,?,?,?)",
                (
                    f"{serial:x}",
                    key_label,
                    cert.subject.human_friendly,
                    cert.not_valid_before.isoformat(),
                    cert.not_valid_after.isoformat(),
                    cert.dump(),
                ),
            )

    def revoke(self, serial: int, reason: str, at: datetime) -> bool:
        with self._lock:
            cur = self._db.execute(
                "UPDATE certificates SET revoked_at=?, reason=? WHERE serial=? AND revoked_at IS NULL",
                (at.isoformat(), reason, f"{serial:x}"),
            )
            return cur.rowcount == 1

    def get(self, serial: int) -> IssuedCertificate | None:
        row = self._db.execute(
            "SELECT serial, key_label, subject, not_before, not_after, revoked_at, reason"
            " FROM certificates WHERE serial=?",
            (f"{serial:x}",),
        ).fetchone()
        return _issued(row) if row else None

    def revoked(self) -> list[IssuedCertificate]:
        rows = self._db.execute(
            "SELECT serial, key_label, subject, not_before, not_after, revoked_at, reason"
            " FROM certificates WHERE revoked_at IS NOT NULL ORDER BY revoked_at"
        ).fetchall()
        return [_issued(r) for r in rows]

    def next_crl_number(self, root: bool = False) -> int:
        """The next number of the issuing CA's CRL, or of the root's with `root`."""
        table = "root_crl_numbers" if root else "crl_numbers"
        with self._lock:
            cur = self._db.execute(f"INSERT INTO {table} (at) VALUES (?)", (_now().isoformat(),))  # noqa: S608
            return int(cur.lastrowid or 0)


def _issued(row: tuple[str, ...]) -> IssuedCertificate:
    return IssuedCertificate(
        serial=int(row[0], 16),
        key_label=row[1],
        subject=row[2],
        not_before=datetime.fromisoformat(row[3]),
        not_after=datetime.fromisoformat(row[4]),
        revoked_at=datetime.fromisoformat(row[5]) if row[5] else None,
        reason=row[6],
    )


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _serial() -> int:
    return secrets.randbits(126) | (1 << 126)


def _name(common_name: str) -> x509.Name:
    """A name of Tillit's own (its CAs, services and hosts): a legal person's."""
    return x509.Name.build({"country_name": "NO", "organization_name": "Tillit", "common_name": common_name})


def natural_person_name(full_name: str, person_id: str) -> x509.Name:
    """A customer's subject as EN 319 412-2 4.2.4 wants it for a natural person: countryName,
    givenName and surname (the last word of the name is the surname), commonName, and serialNumber
    Tillit's own persistent identifier of the person under `PERSON_ID_SCHEME`; no organizationName,
    which would make the subject read as a legal person."""
    words = full_name.split()
    if not words:
        raise errors.HsmError("a customer's name is not empty")
    fields = {
        "country_name": "NO",
        "surname": words[-1],
        "common_name": " ".join(words),
        "serial_number": PERSON_ID_SCHEME + person_id,
    }
    if len(words) > 1:
        fields["given_name"] = " ".join(words[:-1])
    return x509.Name.build(fields)


def revocation_reason(name: str) -> str:
    """The RFC 5280 name of a revocation reason given by that name or the older snake_case one
    (`keyCompromise`, `key_compromise`); HsmError for any other."""
    letters = name.replace("_", "").replace("-", "").lower()
    if letters == "removefromcrl":
        raise errors.HsmError("removeFromCRL only appears in delta CRLs (RFC 5280 5.3.1); it revokes nothing")
    found = _REASON_BY_LETTERS.get(letters)
    if found is None:
        raise errors.HsmError(f"unknown revocation reason '{name}' (one of: {', '.join(REVOCATION_REASONS)})")
    return found


class CertificateAuthority:
    """Root CA -> issuing CA -> customers' (and the daemon's) certificates, and the OCSP responder.

    Where relying parties find what they need (RFC 5280 4.2.1.13, 4.2.2.1), under the public URL:
    the issuing CA's certificate names the root's CRL (`/v1/crl/root`) and the root's certificate in
    DER (`/v1/ca/root.cer`); a customer's names the issuing CA's CRL (`/v1/crl`), OCSP (`/v1/ocsp`)
    and the issuing CA's certificate in DER (`/v1/ca/issuing.cer`).
    """

    def __init__(self, hsm: Hsm, ledger: CaLedger) -> None:
        self.hsm = hsm
        self.ledger = ledger
        self._cache: dict[str, x509.Certificate] = {}
        self._ocsp_lock = threading.Lock()
        self._renewal_lock = threading.Lock()
        self._root_crl_lock = threading.Lock()
        self._root_crl: tuple[datetime, bytes] | None = None
        self._ocsp_cache: OrderedDict[tuple[tuple[bytes, ...], tuple[bytes, ...]], tuple[float, bytes]] = OrderedDict()

    @classmethod
    def for_home(cls, hsm: Hsm) -> CertificateAuthority:
        return cls(hsm, CaLedger(hsm.settings.home / "ca.db"))

    # -- setup ---------------------------------------------------------------------------------

    @property
    def initialised(self) -> bool:
        return self.hsm.certificate(ISSUING_LABEL) is not None

    @property
    def public_url(self) -> str | None:
        """The signer's public URL this CA was made with, read back from where `init` wrote it (the
        issuing CA's certificate names the root's CRL at `<url>/v1/crl/root`); None for a CA made
        before certificates carried it. Certificates the CA issues belong under this URL."""
        for point in self.issuing_certificate().crl_distribution_points:
            for name in point["distribution_point"].native or []:
                if isinstance(name, str) and name.endswith(_ROOT_CRL_PATH):
                    return name.removesuffix(_ROOT_CRL_PATH)
        return None

    def init(self, organisation: str = "Tillit", years: int = 10, *, public_url: str = DEFAULT_PUBLIC_URL) -> None:
        """Create the keys and certificates of the root, the issuing CA and the OCSP responder; the
        issuing CA's certificate points at the root's CRL and certificate under `public_url`, which
        must be the signer's public URL. Refused when a root certificate is already in the token."""
        if self.hsm.certificate(ROOT_LABEL) is not None:
            raise errors.HsmError("the CA is already initialised (`tillit-hsm ca show` prints it)")
        base = public_url.rstrip("/")
        now = _now()
        for label in (ROOT_LABEL, ISSUING_LABEL, OCSP_LABEL):
            if not self.hsm.has_key(label):
                self.hsm.generate_key(label, Algorithm.EC_P256)
        root_name = _name(f"{organisation} Root CA")
        root = self._certificate(
            subject=root_name,
            subject_label=ROOT_LABEL,
            issuer=root_name,
            issuer_label=ROOT_LABEL,
            not_after=now + timedelta(days=365 * years),
            extensions=_ca_extensions(path_length=1),
        )
        self.hsm.store_certificate(ROOT_LABEL, root.dump())
        issuing = self._certificate(
            subject=_name(f"{organisation} Issuing CA"),
            subject_label=ISSUING_LABEL,
            issuer=root_name,
            issuer_label=ROOT_LABEL,
            not_after=now + timedelta(days=365 * years - 1),
            extensions=[
                *_ca_extensions(path_length=0),
                _ext(
                    "crl_distribution_points",
                    [{"distribution_point": {"full_name": [_uri(f"{base}{_ROOT_CRL_PATH}")]}}],
                ),
                _ext(
                    "authority_information_access",
                    [{"access_method": "ca_issuers", "access_location": _uri(f"{base}/v1/ca/root.cer")}],
                ),
            ],
        )
        self.hsm.store_certificate(ISSUING_LABEL, issuing.dump())
        self._cache.clear()
        self._issue_ocsp_certificate()
        self._cache.clear()

    def _issue_ocsp_certificate(self) -> x509.Certificate:
        """A new certificate for the OCSP responder's key, living `OCSP_CERTIFICATE_LIFETIME`."""
        issuing = self.issuing_certificate()
        ocsp_cert = self._certificate(
            subject=_name("Tillit OCSP responder"),
            subject_label=OCSP_LABEL,
            issuer=issuing.subject,
            issuer_label=ISSUING_LABEL,
            not_after=_now() + OCSP_CERTIFICATE_LIFETIME,
            extensions=[
                _ext("basic_constraints", {"ca": False}, critical=True),
                _ext("key_usage", x509.KeyUsage({"digital_signature"}), critical=True),
                _ext("extended_key_usage", ["ocsp_signing"]),
                _ext("ocsp_no_check", None),
            ],
        )
        self.hsm.store_certificate(OCSP_LABEL, ocsp_cert.dump())
        self.ledger.add(ocsp_cert.serial_number, OCSP_LABEL, ocsp_cert)
        return ocsp_cert

    def issue_timestamping_certificate(self, key_label: str = TSA_LABEL, years: int = 10) -> x509.Certificate:
        """The RFC 3161 timestamp authority's certificate: its key (made here when missing) in the
        token, issued by the issuing CA with a critical extendedKeyUsage of timeStamping alone
        (RFC 3161 2.3), stored on the token and in the ledger (so that OCSP answers for it)."""
        if not self.hsm.has_key(key_label):
            self.hsm.generate_key(key_label, Algorithm.EC_P256)
        issuing = self.issuing_certificate()
        # Never beyond the issuing CA: a timestamp is only as good as the chain above it.
        not_after = min(_now() + timedelta(days=365 * years - 3), issuing.not_valid_after - timedelta(days=1))
        cert = self._certificate(
            subject=_name("Tillit Timestamp Authority"),
            subject_label=key_label,
            issuer=issuing.subject,
            issuer_label=ISSUING_LABEL,
            not_after=not_after,
            extensions=[
                _ext("basic_constraints", {"ca": False}, critical=True),
                _ext("key_usage", x509.KeyUsage({"digital_signature", "non_repudiation"}), critical=True),
                _ext("extended_key_usage", ["time_stamping"], critical=True),
            ],
        )
        self.hsm.store_certificate(key_label, cert.dump())
        self.ledger.add(cert.serial_number, key_label, cert)
        self._cache.pop(key_label, None)
        return cert

    # -- certificates --------------------------------------------------------------------------

    def _load(self, label: str) -> x509.Certificate:
        cert = self._cache.get(label)
        if cert is None:
            der = self.hsm.certificate(label)
            if der is None:
                raise errors.CaNotInitialised("the CA is not initialised (run `tillit-hsm ca init`)")
            cert = x509.Certificate.load(der)
            # asn1crypto parses on first access, and two threads parsing one object at once can
            # see it half built (a KeyError from a signing): these certificates are shared by every
            # signing and OCSP thread, so they are parsed whole before anyone else sees them.
            _ = cert.native
            self._cache[label] = cert
        return cert

    def root_certificate(self) -> x509.Certificate:
        return self._load(ROOT_LABEL)

    def issuing_certificate(self) -> x509.Certificate:
        return self._load(ISSUING_LABEL)

    def ocsp_certificate(self) -> x509.Certificate:
        """The OCSP responder's certificate, renewed first when it ends within
        `OCSP_CERTIFICATE_RENEWAL` (or outlives `OCSP_CERTIFICATE_LIFETIME`: made before responder
        certificates were short-lived). Daemons sharing the token may each renew it: every
        certificate made is valid for the same key, and the token keeps the last one stored."""
        cert = self._load(OCSP_LABEL)
        if not _renewal_due(cert, self.issuing_certificate()):
            return cert
        with self._renewal_lock:
            cert = self._load(OCSP_LABEL)  # another thread may have renewed it meanwhile
            if _renewal_due(cert, self.issuing_certificate()):
                cert = self._issue_ocsp_certificate()
                _ = cert.native  # parsed whole before other threads see it (see `_load`)
                self._cache[OCSP_LABEL] = cert
            return cert

    def renew_ocsp_certificate_if_due(self) -> bool:
        """At startup: renew the responder's certificate when due; True when it was."""
        before = self._load(OCSP_LABEL)
        return self.ocsp_certificate() is not before

    def chain(self) -> list[x509.Certificate]:
        """Issuing CA first, then the root."""
        return [self.issuing_certificate(), self.root_certificate()]

    def chain_pem(self) -> str:
        from asn1crypto import pem

        return "".join(pem.armor("CERTIFICATE", c.dump()).decode() for c in self.chain())

    def certificate_der(self, which: str) -> bytes:
        """The DER of the `root` or the `issuing` CA's certificate (KeyError for any other name)."""
        label = {"root": ROOT_LABEL, "issuing": ISSUING_LABEL}[which]
        return bytes(self._load(label).dump())

    def issue(
        self,
        key_label: str,
        common_name: str,
        person_id: str,
        base_url: str,
        days: int = 365 * 2,
    ) -> x509.Certificate:
        """Issue a customer's signing certificate for a key in the token, store it there and in the
        ledger. It fits EN 319 412-2 for a natural person under the NCP: the subject of
        `natural_person_name` (`person_id` is Tillit's persistent id of the customer, never the
        national identity number), certificatePolicies Tillit's policy and NCP, keyUsage
        nonRepudiation alone (NAT-4.3.2 type A: a key that commits to content does nothing else)."""
        issuing = self.issuing_certificate()
        base = base_url.rstrip("/")
        extensions = [
            _ext("basic_constraints", {"ca": False}, critical=True),
            _ext("key_usage", x509.KeyUsage({"non_repudiation"}), critical=True),
            _ext(
                "certificate_policies",
                [{"policy_identifier": TILLIT_POLICY_OID}, {"policy_identifier": ETSI_NCP_OID}],
            ),
            _ext(
                "crl_distribution_points",
                # GeneralNames (a SEQUENCE OF a CHOICE) takes no native dicts: build the GeneralName.
                [{"distribution_point": {"full_name": [_uri(f"{base}/v1/crl")]}}],
            ),
            _ext(
                "authority_information_access",
                [
                    {"access_method": "ocsp", "access_location": _uri(f"{base}/v1/ocsp")},
                    {"access_method": "ca_issuers", "access_location": _uri(f"{base}/v1/ca/issuing.cer")},
                ],
            ),
            _natural_person_semantics(base),
        ]
        cert = self._certificate(
            subject=natural_person_name(common_name, person_id),
            subject_label=key_label,
            issuer=issuing.subject,
            issuer_label=ISSUING_LABEL,
            not_after=_now() + timedelta(days=days),
            extensions=extensions,
        )
        self.hsm.store_certificate(key_label, cert.dump())
        self.ledger.add(cert.serial_number, key_label, cert)
        return cert

    def issue_server_certificate(
        self, public_key_der: bytes, hostnames: list[str], days: int = 365
    ) -> x509.Certificate:
        """A TLS server certificate for the daemon's own port; its key lives in a file, not the token."""
        import ipaddress

        names = []
        for host in hostnames:
            try:
                names.append({"ip_address": str(ipaddress.ip_address(host))})
            except ValueError:
                names.append({"dns_name": host})
        issuing = self.issuing_certificate()
        cert = self._certificate(
            subject=_name(hostnames[0]),
            subject_label="",
            issuer=issuing.subject,
            issuer_label=ISSUING_LABEL,
            not_after=_now() + timedelta(days=days),
            extensions=[
                _ext("basic_constraints", {"ca": False}, critical=True),
                _ext("key_usage", x509.KeyUsage({"digital_signature"}), critical=True),
                _ext("extended_key_usage", ["server_auth"]),
                _ext("subject_alt_name", [x509.GeneralName(name=k, value=v) for n in names for k, v in n.items()]),
            ],
            public_key_der=public_key_der,
        )
        self.ledger.add(cert.serial_number, f"tls:{hostnames[0]}", cert)
        return cert

    def _certificate(
        self,
        subject: x509.Name,
        subject_label: str,
        issuer: x509.Name,
        issuer_label: str,
        not_after: datetime,
        extensions: list[x509.Extension],
        public_key_der: bytes | None = None,
    ) -> x509.Certificate:
        """Build and sign a certificate; the subject key is the token's `subject_label` key unless
        `public_key_der` (SubjectPublicKeyInfo) gives one held elsewhere."""
        public_info = keys.PublicKeyInfo.load(
            public_key_der
            or self.hsm.public_key(subject_label).public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        identifiers = [_ext("key_identifier", _key_identifier(public_info))]
        if issuer_label != subject_label:
            # RFC 5280 6.1.3: nothing outlives its issuer's certificate.
            not_after = min(not_after, self._load(issuer_label).not_valid_after)
            issuer_info = keys.PublicKeyInfo.load(
                self.hsm.public_key(issuer_label).public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
            identifiers.append(_ext("authority_key_identifier", {"key_identifier": _key_identifier(issuer_info)}))
        extensions = [*identifiers, *extensions]
        algorithm = _signature_algorithm(self.hsm.algorithm(issuer_label))
        tbs = x509.TbsCertificate(
            {
                "version": "v3",
                "serial_number": _serial(),
                "signature": algorithm,
                "issuer": issuer,
                "validity": {
                    "not_before": x509.Time({"utc_time": _now() - timedelta(minutes=5)}),
                    "not_after": x509.Time({"utc_time": not_after}),
                },
                "subject": subject,
                "subject_public_key_info": public_info,
                "extensions": extensions,
            }
        )
        signature = self.hsm.sign(issuer_label, tbs.dump())
        return x509.Certificate(
            {"tbs_certificate": tbs, "signature_algorithm": algorithm, "signature_value": signature}
        )

    # -- revocation ----------------------------------------------------------------------------

    def revoke(self, serial: int, reason: str = "unspecified") -> bool:
        """Revoke a certificate for a reason `revocation_reason` knows; False when it was already
        revoked. Unknown serials and reasons raise, changing nothing."""
        stored = REVOCATION_REASONS[revocation_reason(reason)]
        if self.ledger.get(serial) is None:
            raise errors.HsmError(f"no certificate with serial {serial:x} was issued by this CA")
        return self.ledger.revoke(serial, stored, _now())

    def status(self, serial: int) -> IssuedCertificate | None:
        return self.ledger.get(serial)

    def crl(self, hours: int = 24) -> bytes:
        """The issuing CA's CRL (DER), with every certificate it revoked; an entry's reasonCode is
        left out when the reason is unspecified (RFC 5280 5.3.1)."""
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
            for entry in self.ledger.revoked()
            if entry.revoked_at is not None
        ]
        return self._signed_crl(ISSUING_LABEL, revoked, timedelta(hours=hours), self.ledger.next_crl_number())

    def root_crl(self) -> bytes:
        """The root's CRL (DER), named by the issuing CA's certificate: empty, since only a new CA
        would revoke the issuing CA. Signed in the token when the last one is half way through its
        `ROOT_CRL_LIFETIME`, so that fetching it makes the HSM sign nothing."""
        with self._root_crl_lock:
            if self._root_crl is not None and _now() < self._root_crl[0]:
                return self._root_crl[1]
            der = self._signed_crl(ROOT_LABEL, [], ROOT_CRL_LIFETIME, self.ledger.next_crl_number(root=True))
            self._root_crl = (_now() + ROOT_CRL_LIFETIME / 2, der)
            return der

    def _signed_crl(
        self, issuer_label: str, revoked: list[dict[str, object]], lifetime: timedelta, number: int
    ) -> bytes:
        issuer = self._load(issuer_label)
        now = _now()
        algorithm = _signature_algorithm(self.hsm.algorithm(issuer_label))
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

    def ocsp_response(self, request_der: bytes, *, max_cert_ids: int = 10, reuse_for: float = 0.0) -> bytes:
        """Answer an RFC 6960 request (in a worker thread: it reads the ledger and signs in the HSM).

        A request that does not parse, asks about no certificate or more than `max_cert_ids`, or
        holds a CertID that is not well formed (a hash algorithm other than SHA-1/-2, parameters
        other than NULL, hashes of the wrong length, a negative serial) gets `malformedRequest`;
        one about a certificate another CA issued gets `unauthorized` (RFC 6960 2.3), unsigned.
        A signed response to a request without a nonce is handed out again for `reuse_for`
        seconds to the same CertIDs while their statuses are the same: a revocation is seen at once.
        """
        try:
            questions, nonce = _read_ocsp_request(request_der, max_cert_ids)
        except (ValueError, TypeError, KeyError, OverflowError):
            return _OCSP_MALFORMED
        issuing = self.issuing_certificate()
        for question in questions:
            if (question.name_hash, question.key_hash) != _issuer_hashes(issuing, question.hash_name):
                return _OCSP_UNAUTHORIZED
        return self._ocsp_answer(questions, nonce, reuse_for)

    def ocsp_responses_for(self, certificates: list[x509.Certificate], *, reuse_for: float = 0.0) -> list[bytes]:
        """For each of `certificates` (issued by the issuing CA), the answer `ocsp_response` gives a
        request with one SHA-256 CertID and no nonce: how the daemon gathers the revocation data its
        own signatures carry, without encoding and reading a request each time."""
        name_hash, key_hash = _issuer_hashes(self.issuing_certificate(), "sha256")
        issuer = _SHA256_ALGORITHM + der.element(der.OCTET_STRING, name_hash) + der.element(der.OCTET_STRING, key_hash)
        answers = []
        for cert in certificates:
            serial = cert.serial_number
            cert_id = der.element(der.SEQUENCE, issuer + der.integer(serial))
            question = _CertQuestion(cert_id, "sha256", name_hash, key_hash, serial)
            answers.append(self._ocsp_answer([question], None, reuse_for))
        return answers

    def _ocsp_answer(self, questions: list[_CertQuestion], nonce: core.OctetString | None, reuse_for: float) -> bytes:
        """The signed response for well-formed questions about this CA's certificates. Without a
        nonce it is handed out again for `reuse_for` seconds while the statuses stay the same."""
        statuses = [self._cert_status(question.serial) for question in questions]
        key = (tuple(q.cert_id for q in questions), tuple(statuses))
        reusable = nonce is None and reuse_for > 0
        if reusable:
            with self._ocsp_lock:
                cached = self._ocsp_cache.get(key)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
        answer = self._signed_ocsp_response(questions, statuses, nonce)
        if reusable:
            with self._ocsp_lock:
                self._ocsp_cache[key] = (time.monotonic() + reuse_for, answer)
                self._ocsp_cache.move_to_end(key)
                while len(self._ocsp_cache) > _OCSP_CACHE_ENTRIES:
                    self._ocsp_cache.popitem(last=False)
        return answer

    def _signed_ocsp_response(
        self, questions: list[_CertQuestion], statuses: list[bytes], nonce: core.OctetString | None
    ) -> bytes:
        """An OCSPResponse (RFC 6960 4.2.1) joined from DER pieces (`tillit.der` says why): a
        BasicOCSPResponse by the responder key, one SingleResponse per question valid for an hour,
        the responder by key hash, the nonce echoed, the responder's certificate included."""
        responder = self.ocsp_certificate()
        now = _now()
        this_update = der.generalized_time(now)
        next_update = der.context(0, der.generalized_time(now + timedelta(hours=1)))
        singles = b"".join(
            der.element(der.SEQUENCE, q.cert_id + status + this_update + next_update)
            for q, status in zip(questions, statuses, strict=True)
        )
        data = (
            der.context(2, der.element(der.OCTET_STRING, responder.public_key.sha1))  # responderID byKey
            + this_update  # producedAt
            + der.element(der.SEQUENCE, singles)
        )
        if nonce is not None:
            extensions = ocsp.ResponseDataExtensions([{"extn_id": "nonce", "critical": False, "extn_value": nonce}])
            data += der.context(1, extensions.dump())
        response_data = der.element(der.SEQUENCE, data)
        algorithm = _signature_algorithm(self.hsm.algorithm(OCSP_LABEL)).dump()
        signature = self.hsm.sign(OCSP_LABEL, response_data)
        basic = der.element(
            der.SEQUENCE,
            response_data
            + algorithm
            + der.element(der.BIT_STRING, b"\0" + signature)
            + der.context(0, der.element(der.SEQUENCE, responder.dump())),
        )
        response_bytes = der.element(der.SEQUENCE, _OID_OCSP_BASIC + der.element(der.OCTET_STRING, basic))
        return der.element(der.SEQUENCE, _OCSP_SUCCESSFUL + der.context(0, response_bytes))

    def _cert_status(self, serial: int) -> bytes:
        """The CertStatus (DER) the ledger gives `serial`."""
        entry = self.ledger.get(serial)
        if entry is None:
            return _STATUS_UNKNOWN
        if entry.revoked_at is not None:
            revoked: dict[str, object] = {"revocation_time": entry.revoked_at}
            if entry.reason and entry.reason != "unspecified":  # as in the CRL (RFC 5280 5.3.1)
                revoked["revocation_reason"] = entry.reason
            return bytes(ocsp.CertStatus(name="revoked", value=revoked).dump())
        return _STATUS_GOOD


# The CertID hash algorithms the responder answers for (RFC 6960 4.1.1, RFC 5019 uses SHA-1).
_OCSP_HASHES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}
_OCSP_MALFORMED = bytes(ocsp.OCSPResponse({"response_status": "malformed_request"}).dump())
_OCSP_UNAUTHORIZED = bytes(ocsp.OCSPResponse({"response_status": "unauthorized"}).dump())
# Signed responses kept for reuse: one per recently asked certificate (or set of them).
_OCSP_CACHE_ENTRIES = 4096
_SHA256_ALGORITHM = bytes(algos.DigestAlgorithm({"algorithm": "sha256"}).dump())
_STATUS_GOOD = bytes(ocsp.CertStatus(name="good", value=core.Null()).dump())
_STATUS_UNKNOWN = bytes(ocsp.CertStatus(name="unknown", value=core.Null()).dump())
_OID_OCSP_BASIC = bytes(core.ObjectIdentifier("1.3.6.1.5.5.7.48.1.1").dump())
_OCSP_SUCCESSFUL = der.element(der.ENUMERATED, b"\0")
# RFC 5280 4.1.2.2: a serial is at most 20 octets.
_MAX_SERIAL_BITS = 160


@dataclass(frozen=True)
class _CertQuestion:
    """One CertID of a request (`cert_id` its DER), checked well formed."""

    cert_id: bytes
    hash_name: str
    name_hash: bytes
    key_hash: bytes
    serial: int


def _read_ocsp_request(request_der: bytes, max_cert_ids: int) -> tuple[list[_CertQuestion], core.OctetString | None]:
    """The CertIDs and the nonce of a request; ValueError (or asn1crypto's TypeError) when malformed."""
    request = ocsp.OCSPRequest.load(request_der, strict=True)
    tbs_request = request["tbs_request"]
    request_list = tbs_request["request_list"]
    if not 0 < len(request_list) <= max_cert_ids:
        raise ValueError(f"a request asks about 1 to {max_cert_ids} certificates")
    questions = []
    for single in request_list:
        cert_id = single["req_cert"]
        hash_name = cert_id["hash_algorithm"]["algorithm"].native
        if hash_name not in _OCSP_HASHES:
            raise ValueError(f"unknown CertID hash algorithm {hash_name}")
        if cert_id["hash_algorithm"]["parameters"].native is not None:
            raise ValueError("a CertID hash algorithm takes no parameters")
        name_hash = cert_id["issuer_name_hash"].native
        key_hash = cert_id["issuer_key_hash"].native
        if len(name_hash) != _OCSP_HASHES[hash_name] or len(key_hash) != _OCSP_HASHES[hash_name]:
            raise ValueError("a CertID hash of the wrong length")
        serial = cert_id["serial_number"].native
        if not isinstance(serial, int) or serial < 0 or serial.bit_length() > _MAX_SERIAL_BITS:
            raise ValueError("a CertID serial out of range")
        questions.append(_CertQuestion(bytes(cert_id.dump()), hash_name, name_hash, key_hash, serial))
    nonce = None
    for extension in tbs_request["request_extensions"] or []:
        if extension["extn_id"].native == "nonce":
            nonce = extension["extn_value"].parsed
            _ = nonce.native  # parsed here, where a malformed nonce is a malformed request
    return questions, nonce


def _issuer_hashes(issuing: x509.Certificate, hash_name: str) -> tuple[bytes, bytes]:
    """The issuer name and key hashes of a CertID for a certificate `issuing` issued (RFC 6960 4.1.1)."""
    name_hash = hashlib.new(hash_name, issuing.subject.dump()).digest()
    key_hash = hashlib.new(hash_name, bytes(issuing.public_key["public_key"])).digest()
    return name_hash, key_hash


def ocsp_http_headers(response_der: bytes, now: datetime | None = None) -> dict[str, str]:
    """RFC 5019 6.2 caching headers for an OCSP response: for a signed one without a nonce,
    Last-Modified its producedAt, Expires its (earliest) nextUpdate, max-age the seconds until then,
    and an ETag of its SHA-1; any other (an error status, a nonce) must not be cached."""
    at = now or datetime.now(UTC)
    response = ocsp.OCSPResponse.load(response_der)
    if response["response_status"].native != "successful":
        return {"Cache-Control": "no-store"}
    data = response.basic_ocsp_response["tbs_response_data"]
    extensions = data["response_extensions"].native or []
    next_updates = [single["next_update"].native for single in data["responses"]]
    if any(e["extn_id"] == "nonce" for e in extensions) or None in next_updates:
        return {"Cache-Control": "no-store"}
    expires: datetime = min(next_updates)
    max_age = max(0, int((expires - at).total_seconds()) - 1)  # before nextUpdate, as RFC 5019 asks
    return {
        "Cache-Control": f"max-age={max_age}, public, no-transform, must-revalidate",
        "Last-Modified": format_datetime(data["produced_at"].native, usegmt=True),
        "Expires": format_datetime(expires, usegmt=True),
        "ETag": f'"{hashlib.sha1(response_der).hexdigest()}"',  # noqa: S324 - RFC 5019 6.2 names SHA-1
    }


def _renewal_due(cert: x509.Certificate, issuing: x509.Certificate) -> bool:
    """Whether the OCSP responder's certificate ends within the renewal window, or outlives its
    lifetime (made before responder certificates were short-lived); never when it already ends
    with the issuing CA, which no renewal could outlive."""
    end: datetime = cert.not_valid_after
    left = end - _now()
    if left > OCSP_CERTIFICATE_LIFETIME + timedelta(days=1):
        return True
    return left < OCSP_CERTIFICATE_RENEWAL and end < issuing.not_valid_after


def _natural_person_semantics(base_url: str) -> x509.Extension:
    """qcStatements (RFC 3739) with the one statement that the subject's serialNumber follows EN 319
    412-1's natural-person identifier semantics, naming the registration authority of the national
    scheme (NAT-5.1.3-05/06: an http(s) URI): Tillit's CA, by its URL; no qualified-certificate
    statement. asn1crypto has no type for
    it, so the DER is spelled out: SEQUENCE { SEQUENCE { id-qcs-pkixQCSyntax-v2, SEQUENCE {
    id-etsi-qcs-semanticsId-Natural, SEQUENCE { [6] URI } } } }."""
    authorities = core.Sequence(contents=_uri(f"{base_url}/v1/ca").dump())
    semantics = core.Sequence(contents=core.ObjectIdentifier(_SEMANTICS_ID_NATURAL).dump() + authorities.dump())
    statement = core.Sequence(contents=core.ObjectIdentifier(_QCS_PKIX_SYNTAX_V2).dump() + semantics.dump())
    statements = core.Sequence(contents=statement.dump())
    # Loaded from DER, not built from values: pyHanko, once imported, registers a type for
    # qcStatements with asn1crypto, which then wants values of that type instead of bytes.
    extension = core.Sequence(
        contents=core.ObjectIdentifier(_QC_STATEMENTS).dump() + core.OctetString(statements.dump()).dump()
    )
    return x509.Extension.load(extension.dump())


def _key_identifier(public_info: keys.PublicKeyInfo) -> bytes:
    # RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey bit string.
    return hashlib.sha1(public_info["public_key"].contents[1:]).digest()  # noqa: S324


def _uri(url: str) -> x509.GeneralName:
    return x509.GeneralName(name="uniform_resource_identifier", value=url)


def _ext(name: str, value: object, critical: bool = False) -> x509.Extension:
    return x509.Extension({"extn_id": name, "critical": critical, "extn_value": value})


def _ca_extensions(path_length: int) -> list[x509.Extension]:
    return [
        _ext("basic_constraints", {"ca": True, "path_len_constraint": path_length}, critical=True),
        _ext("key_usage", x509.KeyUsage({"key_cert_sign", "crl_sign"}), critical=True),
    ]


def _signature_algorithm(algorithm: Algorithm) -> x509.SignedDigestAlgorithm:
    name = "sha256_ecdsa" if algorithm.is_ec else "sha256_rsa"
    return x509.SignedDigestAlgorithm({"algorithm": name})

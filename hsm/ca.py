"""A certificate authority whose keys live in the token: root, issuing CA and OCSP responder.

Certificates, CRLs and OCSP responses are built with asn1crypto and their to-be-signed part is
signed in the HSM. The ledger of issued and revoked certificates is a small SQLite file in
TILLIT_HOME; the certificates themselves are also stored on the token beside their keys.
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
from pathlib import Path

from asn1crypto import core, crl, keys, ocsp, x509
from cryptography.hazmat.primitives import serialization

from hsm import errors
from hsm.client import Hsm
from hsm.keys import Algorithm

ROOT_LABEL = "tillit-root-ca"
ISSUING_LABEL = "tillit-issuing-ca"
OCSP_LABEL = "tillit-ocsp"

_REASONS = {
    "unspecified",
    "key_compromise",
    "affiliation_changed",
    "superseded",
    "cessation_of_operation",
    "certificate_hold",
}


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
    """Issued certificates, revocations and the CRL number (SQLite, serialised by a lock)."""

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

    def next_crl_number(self) -> int:
        with self._lock:
            cur = self._db.execute("INSERT INTO crl_numbers (at) VALUES (?)", (_now().isoformat(),))
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


def _name(common_name: str, serial_number: str | None = None) -> x509.Name:
    fields: dict[str, str] = {"country_name": "NO", "organization_name": "Tillit"}
    fields["common_name"] = common_name
    if serial_number:
        fields["serial_number"] = serial_number
    return x509.Name.build(fields)


class CertificateAuthority:
    def __init__(self, hsm: Hsm, ledger: CaLedger) -> None:
        self.hsm = hsm
        self.ledger = ledger
        self._cache: dict[str, x509.Certificate] = {}
        self._ocsp_lock = threading.Lock()
        self._ocsp_cache: OrderedDict[tuple[tuple[bytes, ...], tuple[bytes, ...]], tuple[float, bytes]] = OrderedDict()

    @classmethod
    def for_home(cls, hsm: Hsm) -> CertificateAuthority:
        return cls(hsm, CaLedger(hsm.settings.home / "ca.db"))

    # -- setup ---------------------------------------------------------------------------------

    @property
    def initialised(self) -> bool:
        return self.hsm.certificate(ISSUING_LABEL) is not None

    def init(self, organisation: str = "Tillit", years: int = 10) -> None:
        if self.hsm.certificate(ROOT_LABEL) is not None:
            raise errors.HsmError("the CA is already initialised (`tillit-hsm ca show` prints it)")
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
            extensions=_ca_extensions(path_length=0),
        )
        self.hsm.store_certificate(ISSUING_LABEL, issuing.dump())
        self._issue_ocsp_certificate(years)
        self._cache.clear()

    def _issue_ocsp_certificate(self, years: int) -> None:
        issuing = self.issuing_certificate()
        ocsp_cert = self._certificate(
            subject=_name("Tillit OCSP responder"),
            subject_label=OCSP_LABEL,
            issuer=issuing.subject,
            issuer_label=ISSUING_LABEL,
            not_after=_now() + timedelta(days=365 * years - 2),
            extensions=[
                _ext("key_usage", x509.KeyUsage({"digital_signature"}), critical=True),
                _ext("extended_key_usage", ["ocsp_signing"]),
                _ext("ocsp_no_check", None),
            ],
        )
        self.hsm.store_certificate(OCSP_LABEL, ocsp_cert.dump())

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
        return self._load(OCSP_LABEL)

    def chain(self) -> list[x509.Certificate]:
        """Issuing CA first, then the root."""
        return [self.issuing_certificate(), self.root_certificate()]

    def chain_pem(self) -> str:
        from asn1crypto import pem

        return "".join(pem.armor("CERTIFICATE", c.dump()).decode() for c in self.chain())

    def issue(
        self,
        key_label: str,
        common_name: str,
        subject_serial: str,
        base_url: str,
        days: int = 365 * 2,
    ) -> x509.Certificate:
        """Issue a signing certificate for a key in the token, store it there and in the ledger."""
        issuing = self.issuing_certificate()
        base = base_url.rstrip("/")
        extensions = [
            _ext("basic_constraints", {"ca": False}, critical=True),
            _ext("key_usage", x509.KeyUsage({"digital_signature", "non_repudiation"}), critical=True),
            _ext(
                "crl_distribution_points",
                # GeneralNames (a SEQUENCE OF a CHOICE) takes no native dicts: build the GeneralName.
                [{"distribution_point": {"full_name": [_uri(f"{base}/v1/crl")]}}],
            ),
            _ext(
                "authority_information_access",
                [
                    {"access_method": "ocsp", "access_location": {"uniform_resource_identifier": f"{base}/v1/ocsp"}},
                    {
                        "access_method": "ca_issuers",
                        "access_location": {"uniform_resource_identifier": f"{base}/v1/ca"},
                    },
                ],
            ),
        ]
        cert = self._certificate(
            subject=_name(common_name, subject_serial),
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
        """Revoke a certificate; False when it was already revoked. Unknown serials raise."""
        if reason not in _REASONS:
            raise errors.HsmError(f"unknown revocation reason '{reason}'")
        if self.ledger.get(serial) is None:
            raise errors.HsmError(f"no certificate with serial {serial:x} was issued by this CA")
        return self.ledger.revoke(serial, reason, _now())

    def status(self, serial: int) -> IssuedCertificate | None:
        return self.ledger.get(serial)

    def crl(self, hours: int = 24) -> bytes:
        issuing = self.issuing_certificate()
        now = _now()
        algorithm = _signature_algorithm(self.hsm.algorithm(ISSUING_LABEL))
        revoked = [
            {
                "user_certificate": entry.serial,
                "revocation_date": x509.Time({"utc_time": entry.revoked_at}),
                "crl_entry_extensions": [
                    {"extn_id": "crl_reason", "critical": False, "extn_value": entry.reason or "unspecified"}
                ],
            }
            for entry in self.ledger.revoked()
            if entry.revoked_at is not None
        ]
        tbs = crl.TbsCertList(
            {
                "version": "v2",
                "signature": algorithm,
                "issuer": issuing.subject,
                "this_update": x509.Time({"utc_time": now}),
                "next_update": x509.Time({"utc_time": now + timedelta(hours=hours)}),
                "revoked_certificates": revoked or None,
                "crl_extensions": [
                    {"extn_id": "crl_number", "critical": False, "extn_value": self.ledger.next_crl_number()},
                    {
                        "extn_id": "authority_key_identifier",
                        "critical": False,
                        "extn_value": {"key_identifier": issuing.key_identifier},
                    },
                ],
            }
        )
        if not revoked:
            del tbs["revoked_certificates"]
        signature = self.hsm.sign(ISSUING_LABEL, tbs.dump())
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
        statuses = [self._cert_status(question.serial) for question in questions]
        key = (tuple(q.cert_id.dump() for q in questions), tuple(status.dump() for status in statuses))
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
        self, questions: list[_CertQuestion], statuses: list[ocsp.CertStatus], nonce: core.OctetString | None
    ) -> bytes:
        responder = self.ocsp_certificate()
        now = _now()
        responses = [
            {"cert_id": q.cert_id, "cert_status": status, "this_update": now, "next_update": now + timedelta(hours=1)}
            for q, status in zip(questions, statuses, strict=True)
        ]
        response_data = ocsp.ResponseData(
            {
                "responder_id": {"by_key": responder.public_key.sha1},
                "produced_at": now,
                "responses": responses,
            }
        )
        if nonce is not None:
            response_data["response_extensions"] = [{"extn_id": "nonce", "critical": False, "extn_value": nonce}]
        algorithm = _signature_algorithm(self.hsm.algorithm(OCSP_LABEL))
        signature = self.hsm.sign(OCSP_LABEL, response_data.dump())
        basic = ocsp.BasicOCSPResponse(
            {
                "tbs_response_data": response_data,
                "signature_algorithm": algorithm,
                "signature": signature,
                "certs": [responder],
            }
        )
        response = ocsp.OCSPResponse(
            {
                "response_status": "successful",
                "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
            }
        )
        return bytes(response.dump())

    def _cert_status(self, serial: int) -> ocsp.CertStatus:
        entry = self.ledger.get(serial)
        if entry is None:
            return ocsp.CertStatus(name="unknown", value=core.Null())
        if entry.revoked_at is not None:
            return ocsp.CertStatus(
                name="revoked",
                value={"revocation_time": entry.revoked_at, "revocation_reason": entry.reason or "unspecified"},
            )
        return ocsp.CertStatus(name="good", value=core.Null())


# The CertID hash algorithms the responder answers for (RFC 6960 4.1.1, RFC 5019 uses SHA-1).
_OCSP_HASHES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}
_OCSP_MALFORMED = bytes(ocsp.OCSPResponse({"response_status": "malformed_request"}).dump())
_OCSP_UNAUTHORIZED = bytes(ocsp.OCSPResponse({"response_status": "unauthorized"}).dump())
# Signed responses kept for reuse: one per recently asked certificate (or set of them).
_OCSP_CACHE_ENTRIES = 4096
# RFC 5280 4.1.2.2: a serial is at most 20 octets.
_MAX_SERIAL_BITS = 160


@dataclass(frozen=True)
class _CertQuestion:
    """One CertID of a request, checked well formed."""

    cert_id: ocsp.CertId
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
        questions.append(_CertQuestion(cert_id, hash_name, name_hash, key_hash, serial))
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

"""The CA's OCSP responder (RFC 6960): requests read and checked, answers signed by the responder
key in the HSM, joined from DER pieces (`tillit.der` says why), and reused while nothing changed.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from asn1crypto import core, ocsp, x509

from tillit import der
from tillit.hsm.ca_ledger import CaLedger
from tillit.hsm.cert_profiles import now_seconds, signature_algorithm
from tillit.hsm.client import Hsm


class OcspResponder:
    """Answers OCSP requests about the certificates the issuing CA issued, signing with the key
    `responder_label` whose certificate `responder` gives. Thread-safe."""

    def __init__(
        self,
        hsm: Hsm,
        ledger: CaLedger,
        issuing: Callable[[], x509.Certificate],
        responder: Callable[[], x509.Certificate],
        responder_label: str,
    ) -> None:
        self.hsm = hsm
        self.responder_label = responder_label
        self.ledger = ledger
        self._issuing = issuing
        self._responder = responder
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[tuple[bytes, ...], tuple[bytes, ...]], tuple[float, bytes]] = OrderedDict()

    def response(self, request_der: bytes, *, max_cert_ids: int = 10, reuse_for: float = 0.0) -> bytes:
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
        issuing = self._issuing()
        for question in questions:
            if (question.name_hash, question.key_hash) != _issuer_hashes(issuing, question.hash_name):
                return _OCSP_UNAUTHORIZED
        return self._answer(questions, nonce, reuse_for)

    def responses_for(self, certificates: list[x509.Certificate], *, reuse_for: float = 0.0) -> list[bytes]:
        """For each of `certificates` (issued by the issuing CA), the answer `response` gives a
        request with one SHA-256 CertID and no nonce: how the daemon gathers the revocation data its
        own signatures carry, without encoding and reading a request each time."""
        name_hash, key_hash = _issuer_hashes(self._issuing(), "sha256")
        issuer = (
            der.SHA256_ALGORITHM + der.element(der.OCTET_STRING, name_hash) + der.element(der.OCTET_STRING, key_hash)
        )
        answers = []
        for cert in certificates:
            serial = cert.serial_number
            cert_id = der.element(der.SEQUENCE, issuer + der.integer(serial))
            question = _CertQuestion(cert_id, "sha256", name_hash, key_hash, serial)
            answers.append(self._answer([question], None, reuse_for))
        return answers

    def _answer(self, questions: list[_CertQuestion], nonce: core.OctetString | None, reuse_for: float) -> bytes:
        """The signed response for well-formed questions about this CA's certificates. Without a
        nonce it is handed out again for `reuse_for` seconds while the statuses stay the same."""
        statuses = [self._cert_status(question.serial) for question in questions]
        key = (tuple(q.cert_id for q in questions), tuple(statuses))
        reusable = nonce is None and reuse_for > 0
        if reusable:
            with self._lock:
                cached = self._cache.get(key)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
        answer = self._signed_ocsp_response(questions, statuses, nonce)
        if reusable:
            with self._lock:
                self._cache[key] = (time.monotonic() + reuse_for, answer)
                self._cache.move_to_end(key)
                while len(self._cache) > _OCSP_CACHE_ENTRIES:
                    self._cache.popitem(last=False)
        return answer

    def _signed_ocsp_response(
        self, questions: list[_CertQuestion], statuses: list[bytes], nonce: core.OctetString | None
    ) -> bytes:
        """An OCSPResponse (RFC 6960 4.2.1) joined from DER pieces (`tillit.der` says why): a
        BasicOCSPResponse by the responder key, one SingleResponse per question valid for an hour,
        the responder by key hash, the nonce echoed, the responder's certificate included."""
        responder = self._responder()
        now = now_seconds()
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
        algorithm = signature_algorithm(self.hsm.algorithm(self.responder_label)).dump()
        signature = self.hsm.sign(self.responder_label, response_data)
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


OCSP_HASHES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}
_OCSP_MALFORMED = bytes(ocsp.OCSPResponse({"response_status": "malformed_request"}).dump())
_OCSP_UNAUTHORIZED = bytes(ocsp.OCSPResponse({"response_status": "unauthorized"}).dump())
# Signed responses kept for reuse: one per recently asked certificate (or set of them).
_OCSP_CACHE_ENTRIES = 4096
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
        if hash_name not in OCSP_HASHES:
            raise ValueError(f"unknown CertID hash algorithm {hash_name}")
        if cert_id["hash_algorithm"]["parameters"].native is not None:
            raise ValueError("a CertID hash algorithm takes no parameters")
        name_hash = cert_id["issuer_name_hash"].native
        key_hash = cert_id["issuer_key_hash"].native
        if len(name_hash) != OCSP_HASHES[hash_name] or len(key_hash) != OCSP_HASHES[hash_name]:
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

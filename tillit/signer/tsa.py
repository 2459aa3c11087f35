"""Tillit's RFC 3161 timestamp authority: tokens signed in the HSM, for POST /v1/tsa and in-process.

The TSA key (`hsm.ca.TSA_LABEL`, or after `tillit-hsm ca rekey-tsa` the newest `tillit-tsa-N`, as
`CertificateAuthority.tsa_label` finds it when the context is built) lives in the token; its
certificate is issued by the Tillit Issuing CA with a critical extendedKeyUsage of timeStamping alone
(`CertificateAuthority.issue_timestamping_certificate`), made at `tillit-hsm ca init` or, for a CA
made before there was a TSA, the first time a daemon needs it. Every token carries:

- the policy `TSA_POLICY` (or the `tsa_policy_oid` setting), an accuracy of `accuracy_seconds`;
- a serial of 127 random bits: unique across instances sharing a database without coordination;
- the request's nonce, echoed; the TSA's name; the ESS signing-certificate-v2 attribute (RFC 5816);
- the TSA certificate and the issuing CA's in `certificates` when the request sets certReq.

A request the TSA will not answer (not DER, another version, an unknown hash algorithm or a digest
of the wrong length, another policy, extensions) gets a `rejection` TimeStampResp whose
statusString says why (RFC 3161 2.4.2; asn1crypto cannot build one, so its DER is joined here).
The daemon's own PAdES and CAdES signatures get their tokens from the same code without HTTP
(`orders.signing.InProcessTimeStamper`).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import algos, cms, core, tsp, x509

from tillit import der
from tillit.hsm.ca import TSA_LABEL, CertificateAuthority
from tillit.hsm.client import Hsm
from tillit.signer.settings import TSA_POLICY

# The hash algorithms a request may use, and the length of their digests.
_DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}
_SERIAL_BITS = 127


class TimestampRejected(Exception):
    """A request the TSA will not stamp; `fail_info` is the RFC 3161 PKIFailureInfo bit."""

    def __init__(self, fail_info: str, reason: str) -> None:
        super().__init__(reason)
        self.fail_info = fail_info
        self.reason = reason


@dataclass(frozen=True)
class TimestampAnswer:
    """The DER TimeStampResp, and whether a token was granted."""

    granted: bool
    der: bytes
    reason: str = ""


class TimestampAuthority:
    """Issues RFC 3161 timestamp tokens signed by the TSA key in the HSM. Thread-safe."""

    def __init__(
        self,
        hsm: Hsm,
        ca: CertificateAuthority,
        policy: str = TSA_POLICY,
        accuracy_seconds: int = 1,
        key_label: str = TSA_LABEL,
    ) -> None:
        self.hsm = hsm
        self.ca = ca
        self.policy = policy
        self.accuracy_seconds = accuracy_seconds
        self.key_label = key_label
        self._lock = threading.Lock()
        self._certificate: x509.Certificate | None = None
        self._token_parts: _TokenParts | None = None

    def certificate(self) -> x509.Certificate:
        """The TSA certificate; issued now (key made too) when the token has none yet."""
        cert = self._certificate
        if cert is not None:
            return cert
        with self._lock:
            if self._certificate is None:
                der = self.hsm.certificate(self.key_label)
                loaded = (
                    x509.Certificate.load(der)
                    if der is not None
                    else self.ca.issue_timestamping_certificate(self.key_label)
                )
                _ = loaded.native  # parsed whole before other threads share it
                self._certificate = loaded
            return self._certificate

    def _parts(self, tsa_cert: x509.Certificate) -> _TokenParts:
        """The DER pieces every token by `tsa_cert` shares, encoded once per certificate."""
        cached = self._token_parts
        if cached is None or cached.serial != tsa_cert.serial_number:
            cached = _token_parts(tsa_cert, self.ca.issuing_certificate(), self.policy, self.accuracy_seconds)
            self._token_parts = cached
        return cached

    def chain(self) -> list[x509.Certificate]:
        """The TSA certificate, then the issuing CA and the root."""
        return [self.certificate(), *self.ca.chain()]

    def answer(self, request_der: bytes) -> TimestampAnswer:
        """A DER TimeStampResp for a DER TimeStampReq: a token, or a rejection saying why."""
        try:
            request = _read_request(request_der)
            return TimestampAnswer(True, bytes(self.respond(request).dump()))
        except TimestampRejected as e:
            return TimestampAnswer(False, rejection(e.fail_info, e.reason), e.reason)

    def respond(self, request: tsp.TimeStampReq) -> tsp.TimeStampResp:
        """A granted TimeStampResp for a request; `TimestampRejected` when it cannot be granted."""
        imprint = request["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        if algorithm not in _DIGEST_SIZES:
            raise TimestampRejected("bad_alg", f"unsupported hash algorithm {algorithm}; use SHA-256, -384 or -512")
        if imprint["hash_algorithm"]["parameters"].native is not None:
            raise TimestampRejected("bad_alg", "the hash algorithm takes no parameters")
        if len(imprint["hashed_message"].native) != _DIGEST_SIZES[algorithm]:
            raise TimestampRejected("bad_data_format", f"the digest is not {_DIGEST_SIZES[algorithm]} bytes long")
        if request["version"].native != "v1":
            raise TimestampRejected("bad_request", "only version 1 requests are answered")
        asked_policy = request["req_policy"].native
        if asked_policy is not None and asked_policy != self.policy:
            raise TimestampRejected("unaccepted_policy", f"this TSA issues tokens under policy {self.policy} only")
        if request["extensions"].native:
            raise TimestampRejected("unaccepted_extension", "no request extensions are supported")
        token = self.token(bytes(imprint.dump()), request["nonce"].native, bool(request["cert_req"].native))
        return tsp.TimeStampResp.load(der.element(der.SEQUENCE, _GRANTED + token))

    def token(self, imprint: bytes, nonce: int | None, with_certificates: bool) -> bytes:
        """A DER timestamp token (CMS SignedData over a TSTInfo, RFC 3161 2.4.2) for the DER
        MessageImprint `imprint`, signed in the HSM. Joined from DER pieces (`tillit.der` says why);
        `openssl ts -verify` and pyHanko check the result in the tests."""
        tsa_cert = self.certificate()
        parts = self._parts(tsa_cert)
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # milliseconds: within accuracy
        if now >= parts.valid_until:
            # A token past its certificate's end validates nowhere (`openssl ts -verify`: expired),
            # and a signature stamped with it would not last: refused, as RFC 3161 words it.
            raise TimestampRejected(
                "time_not_available",
                f"the TSA's certificate ended {parts.valid_until:%Y-%m-%d %H:%M} UTC: no timestamp can be granted",
            )
        tst_info = der.element(
            der.SEQUENCE,
            der.VERSION_1
            + parts.policy
            + imprint
            + der.integer(secrets.randbits(_SERIAL_BITS) | 1)
            + der.generalized_time(now)
            + parts.accuracy
            + (der.integer(nonce) if nonce is not None else b"")
            + parts.tsa_name,
        )
        signing_time = der.signing_time_attribute(now)
        message_digest = der.message_digest_attribute(tst_info)
        attributes = der.signed_attributes(
            (_CONTENT_TYPE_TST_INFO, signing_time, message_digest, parts.signing_certificate)
        )
        signature = self.hsm.sign(self.key_label, der.element(der.SET, attributes))
        signer_info = der.signer_info(parts.issuer_and_serial, attributes, parts.signature_algorithm, signature)
        signed_data = der.element(
            der.SEQUENCE,
            _VERSION_3
            + der.element(der.SET, der.SHA256_ALGORITHM)
            + der.element(der.SEQUENCE, _OID_TST_INFO + der.context(0, der.element(der.OCTET_STRING, tst_info)))
            + (parts.certificates if with_certificates else b"")
            + der.element(der.SET, signer_info),
        )
        return der.signed_data_content_info(signed_data)

    def signature_timestamp(self, signature: bytes) -> bytes:
        """A DER timestamp token over a CMS signature value (CAdES signature-time-stamp, RFC 3161
        appendix A), with the TSA's certificates in it."""
        imprint = der.element(
            der.SEQUENCE, der.SHA256_ALGORITHM + der.element(der.OCTET_STRING, hashlib.sha256(signature).digest())
        )
        return self.token(imprint, None, with_certificates=True)


def rejection(fail_info: str, reason: str) -> bytes:
    """A DER TimeStampResp refusing a request, with the reason in its statusString."""
    status = tsp.PKIStatusInfo({"status": "rejection", "status_string": [reason], "fail_info": {fail_info}})
    # asn1crypto's TimeStampResp insists on a token; a rejection is the SEQUENCE of its status alone.
    return bytes(core.Sequence(contents=status.dump()).dump())


def _read_request(request_der: bytes) -> tsp.TimeStampReq:
    """A TimeStampReq parsed whole; `TimestampRejected` (badDataFormat) when it is not one."""
    try:
        request = tsp.TimeStampReq.load(request_der, strict=True)
        _ = request.native
    except (ValueError, TypeError, KeyError, OverflowError):
        raise TimestampRejected("bad_data_format", "the body is not a DER TimeStampReq") from None
    return request


@dataclass(frozen=True)
class _TokenParts:
    """What every token of one TSA certificate shares, as DER."""

    serial: int  # the TSA certificate's
    policy: bytes
    accuracy: bytes
    tsa_name: bytes  # tsa [0] GeneralName
    valid_until: datetime  # the TSA certificate's notAfter: no token is granted from then on
    signing_certificate: bytes  # the ESS signing-certificate-v2 attribute (RFC 5816)
    issuer_and_serial: bytes  # the SignerIdentifier
    signature_algorithm: bytes
    certificates: bytes  # [0] IMPLICIT SET OF Certificate: the TSA's and the issuing CA's


def _token_parts(tsa_cert: x509.Certificate, issuing: x509.Certificate, policy: str, accuracy: int) -> _TokenParts:
    ess_cert_id = {
        "cert_hash": hashlib.sha256(tsa_cert.dump()).digest(),  # SHA-256 is the default: no algorithm
        "issuer_serial": {
            "issuer": [x509.GeneralName(name="directory_name", value=tsa_cert.issuer)],
            "serial_number": tsa_cert.serial_number,
        },
    }
    signing_certificate = cms.CMSAttribute({"type": "signing_certificate_v2", "values": [{"certs": [ess_cert_id]}]})
    sid = cms.SignerIdentifier(
        name="issuer_and_serial_number", value={"issuer": tsa_cert.issuer, "serial_number": tsa_cert.serial_number}
    )
    algorithm = "sha256_ecdsa" if tsa_cert.public_key.algorithm == "ec" else "sha256_rsa"
    return _TokenParts(
        serial=tsa_cert.serial_number,
        valid_until=tsa_cert.not_valid_after,
        policy=bytes(core.ObjectIdentifier(policy).dump()),
        accuracy=bytes(tsp.Accuracy({"seconds": accuracy}).dump()),
        tsa_name=der.context(0, bytes(x509.GeneralName(name="directory_name", value=tsa_cert.subject).dump())),
        signing_certificate=bytes(signing_certificate.dump()),
        issuer_and_serial=bytes(sid.dump()),
        signature_algorithm=bytes(algos.SignedDigestAlgorithm({"algorithm": algorithm}).dump()),
        certificates=der.context(0, b"".join(sorted((bytes(tsa_cert.dump()), bytes(issuing.dump()))))),
    )


_VERSION_3 = der.integer(3)
_GRANTED = bytes(tsp.PKIStatusInfo({"status": "granted"}).dump())
_CONTENT_TYPE_TST_INFO = bytes(cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}).dump())
_OID_TST_INFO = bytes(cms.ContentType("tst_info").dump())

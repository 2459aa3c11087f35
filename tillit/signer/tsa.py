"""Tillit's RFC 3161 timestamp authority: tokens signed in the HSM, for POST /v1/tsa and in-process.

The TSA key (`hsm.ca.TSA_LABEL`) lives in the token; its certificate is issued by the Tillit Issuing
CA with a critical extendedKeyUsage of timeStamping alone (`CertificateAuthority.
issue_timestamping_certificate`), made at `tillit-hsm ca init` or, for a CA made before there was a
TSA, the first time a daemon needs it. Every token carries:

- the policy `TSA_POLICY` (or the `tsa_policy_oid` setting), an accuracy of `accuracy_seconds`;
- a serial of 127 random bits: unique across instances sharing a database without coordination;
- the request's nonce, echoed; the TSA's name; the ESS signing-certificate-v2 attribute (RFC 5816);
- the TSA certificate and the issuing CA's in `certificates` when the request sets certReq.

A request the TSA will not answer (not DER, another version, an unknown hash algorithm or a digest
of the wrong length, another policy, extensions) gets a `rejection` TimeStampResp whose
statusString says why (RFC 3161 2.4.2; asn1crypto cannot build one, so its DER is joined here).
`InProcessTimeStamper` is pyHanko's `TimeStamper` over the same code, so the daemon's PAdES and
CAdES signatures get their timestamps without HTTP.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import algos, cms, core, tsp, x509
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError

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
        self._ess_attribute: tuple[int, bytes] | None = None

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

    def _signing_certificate_attribute(self, tsa_cert: x509.Certificate) -> cms.CMSAttribute:
        """The ESS signing-certificate-v2 attribute naming `tsa_cert`: the same for every token, so
        built once (asn1crypto takes about 9 ms to build it from values) and loaded from its DER."""
        cached = self._ess_attribute
        if cached is None or cached[0] != tsa_cert.serial_number:
            value = {"certs": [_ess_cert_id_v2(tsa_cert)]}
            built = cms.CMSAttribute({"type": "signing_certificate_v2", "values": [value]})
            cached = (tsa_cert.serial_number, bytes(built.dump()))
            self._ess_attribute = cached
        return cms.CMSAttribute.load(cached[1])

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
        token = self.token(imprint, request["nonce"].native, bool(request["cert_req"].native))
        return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})

    def token(self, imprint: tsp.MessageImprint, nonce: int | None, with_certificates: bool) -> cms.ContentInfo:
        """A timestamp token (CMS SignedData over a TSTInfo) for `imprint`, signed in the HSM."""
        tsa_cert = self.certificate()
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # milliseconds: within accuracy
        info = {
            "version": "v1",
            "policy": self.policy,
            "message_imprint": imprint,
            "serial_number": secrets.randbits(_SERIAL_BITS) | 1,
            "gen_time": now,
            "accuracy": {"seconds": self.accuracy_seconds},
            "tsa": x509.GeneralName(name="directory_name", value=tsa_cert.subject),
        }
        if nonce is not None:
            info["nonce"] = nonce
        tst_info = bytes(tsp.TSTInfo(info).dump())
        attributes = cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "signing_time", "values": [cms.Time(name="utc_time", value=now)]},
                {"type": "message_digest", "values": [hashlib.sha256(tst_info).digest()]},
                self._signing_certificate_attribute(tsa_cert),
            ]
        )
        signature = self.hsm.sign(self.key_label, attributes.dump())
        signer_info = {
            "version": "v1",
            "sid": {"issuer_and_serial_number": {"issuer": tsa_cert.issuer, "serial_number": tsa_cert.serial_number}},
            "digest_algorithm": algos.DigestAlgorithm.load(_SHA256),
            "signed_attrs": cms.CMSAttributes.load(attributes.dump()),
            "signature_algorithm": algos.SignedDigestAlgorithm.load(_signature_algorithm_der(tsa_cert)),
            "signature": signature,
        }
        signed_data = {
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm.load(_SHA256)],
            "encap_content_info": {"content_type": "tst_info", "content": cms.ParsableOctetString(tst_info)},
            "signer_infos": [signer_info],
        }
        if with_certificates:
            signed_data["certificates"] = [tsa_cert, self.ca.issuing_certificate()]
        return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})

    def signature_timestamp(self, signature: bytes) -> bytes:
        """A DER timestamp token over a CMS signature value (CAdES signature-time-stamp, RFC 3161
        appendix A), with the TSA's certificates in it."""
        imprint = tsp.MessageImprint(
            {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": hashlib.sha256(signature).digest()}
        )
        return bytes(self.token(imprint, None, with_certificates=True).dump())


class InProcessTimeStamper(TimeStamper):  # type: ignore[misc]
    """pyHanko's timestamper over the daemon's own TSA: no HTTP, no network."""

    def __init__(self, authority: TimestampAuthority) -> None:
        super().__init__(include_nonce=True)
        self.authority = authority

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        try:
            return self.authority.respond(req)
        except TimestampRejected as e:  # pyHanko's own requests are well formed: never seen in practice
            raise TimestampRequestError(f"the TSA refused: {e.reason}") from e


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


def _ess_cert_id_v2(cert: x509.Certificate) -> dict[str, object]:
    """The ESSCertIDv2 naming `cert` (RFC 5035; SHA-256 is the default, so left out)."""
    return {
        "cert_hash": hashlib.sha256(cert.dump()).digest(),
        "issuer_serial": {
            "issuer": [x509.GeneralName(name="directory_name", value=cert.issuer)],
            "serial_number": cert.serial_number,
        },
    }


def _signature_algorithm(cert: x509.Certificate) -> str:
    return "sha256_ecdsa" if cert.public_key.algorithm == "ec" else "sha256_rsa"


# Algorithm identifiers as DER, loaded per token: asn1crypto builds one from values in about 0.4 ms.
_SHA256 = bytes(algos.DigestAlgorithm({"algorithm": "sha256"}).dump())
_SIGNATURE_ALGORITHMS = {
    name: bytes(algos.SignedDigestAlgorithm({"algorithm": name}).dump()) for name in ("sha256_ecdsa", "sha256_rsa")
}


def _signature_algorithm_der(cert: x509.Certificate) -> bytes:
    return _SIGNATURE_ALGORITHMS[_signature_algorithm(cert)]

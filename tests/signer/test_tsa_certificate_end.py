"""The TSA grants nothing once its certificate has ended: such a token would validate nowhere
(`openssl ts -verify` says the certificate has expired), and a signature stamped with it would not
last. Real SoftHSM token and CA (the session's), a TSA key and certificate of the test's own."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from asn1crypto import core, tsp

from tillit.hsm.ca import CertificateAuthority
from tillit.hsm.client import Hsm
from tillit.signer.tsa import TimestampAuthority, TimestampRejected

pytestmark = pytest.mark.hsm


def request() -> bytes:
    imprint = {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": hashlib.sha256(b"avtale").digest()}
    return bytes(tsp.TimeStampReq({"version": "v1", "message_imprint": imprint, "cert_req": True}).dump())


def test_a_tsa_whose_certificate_has_ended_grants_no_token(hsm: Hsm, ca: CertificateAuthority) -> None:
    label = f"test-tsa-{uuid.uuid4().hex[:8]}"
    current = TimestampAuthority(hsm, ca, key_label=label)
    ca.issue_timestamping_certificate(label)  # valid: a token is granted
    assert current.answer(request()).granted

    ended = TimestampAuthority(hsm, ca, key_label=label)
    ca.issue_timestamping_certificate(label, years=0)  # ended three days ago
    answer = ended.answer(request())
    assert not answer.granted and "the TSA's certificate ended" in (answer.reason or "")
    status = tsp.PKIStatusInfo.load(core.Sequence.load(answer.der).contents)  # a rejection has no token
    assert status["status"].native == "rejection" and status["fail_info"].native == {"time_not_available"}
    with pytest.raises(TimestampRejected, match="certificate ended"):
        ended.signature_timestamp(b"a signature value")

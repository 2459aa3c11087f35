"""Completion tokens and signed receipts: ES256 compact JWS signed by the service key in the HSM,
published as a JWKS (`GET /v1/keys`).

Both are signed by the same key; the JOSE header's `typ` tells them apart ("JWT" for a completion
token, `RECEIPT_TYPE` for a receipt), and `verify_jwt` accepts only the former, so a receipt can
never stand in for a login."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from tillit.hsm.client import Hsm
from tillit.signer.own_keys import ensure_own_key
from tillit.signer.store.base import Store

SERVICE_KEY_LABEL = "tillit-service-jwt"
# The JOSE `typ` of a signed receipt (RFC 8725 3.11: explicit typing keeps it apart from the tokens).
RECEIPT_TYPE = "tillit-receipt+jwt"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    def __init__(self, hsm: Hsm, issuer: str, store: Store) -> None:
        self.hsm = hsm
        self.issuer = issuer
        ensure_own_key(store, hsm, SERVICE_KEY_LABEL)  # by the first instance to need it, once
        public = hsm.public_key(SERVICE_KEY_LABEL)
        assert isinstance(public, ec.EllipticCurvePublicKey)
        numbers = public.public_numbers()
        self._jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
            "use": "sig",
            "alg": "ES256",
        }
        # RFC 7638 thumbprint as the key id.
        thumbprint_input = json.dumps(
            {k: self._jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True
        )
        self._jwk["kid"] = b64url(hashlib.sha256(thumbprint_input.encode()).digest())

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(self._jwk)]}

    def issue(self, subject: str, audience: str, lifetime: int, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": self.issuer, "sub": subject, "aud": audience, "iat": now, "nbf": now, "exp": now + lifetime}
        payload.update(claims)
        return self._sign("JWT", payload)

    def sign_receipt(self, claims: dict[str, Any], issued_at: float) -> str:
        """`claims` as a signed receipt: a compact JWS of type `RECEIPT_TYPE` with `iss` and `iat`,
        and no `exp` (evidence does not expire) nor `aud`."""
        return self._sign(RECEIPT_TYPE, {"iss": self.issuer, "iat": int(issued_at), **claims})

    def _sign(self, typ: str, payload: dict[str, Any]) -> str:
        header = {"alg": "ES256", "typ": typ, "kid": self._jwk["kid"]}
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
        )
        r, s = decode_dss_signature(self.hsm.sign(SERVICE_KEY_LABEL, signing_input.encode()))
        return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def verify_jwt(token: str, jwks: dict[str, Any]) -> dict[str, Any] | None:
    """Verify an ES256 completion token against a JWKS; return its claims, or None (bad signature,
    expired, or not a completion token's `typ`)."""
    claims = _verified(token, jwks, "JWT")
    if claims is None or not isinstance(claims.get("exp"), int | float) or claims["exp"] < time.time():
        return None
    return claims


def verify_receipt(receipt: str, jwks: dict[str, Any]) -> dict[str, Any] | None:
    """Verify a signed receipt (`TokenIssuer.sign_receipt`) against a JWKS; its claims, or None."""
    return _verified(receipt, jwks, RECEIPT_TYPE)


def _verified(token: str, jwks: dict[str, Any], typ: str) -> dict[str, Any] | None:
    """The claims of an ES256 compact JWS of JOSE type `typ` whose signature verifies with the JWKS
    key its `kid` names; None otherwise (a receipt is never a completion token, nor the reverse)."""
    try:
        head_b64, body_b64, sig_b64 = token.split(".")
        header = json.loads(b64url_decode(head_b64))
        claims = json.loads(b64url_decode(body_b64))
        signature = b64url_decode(sig_b64)
    except ValueError:
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    if header.get("alg") != "ES256" or header.get("typ") != typ or len(signature) != 64:
        return None
    for jwk in jwks.get("keys", []):
        if jwk.get("kid") != header.get("kid"):
            continue
        public = ec.EllipticCurvePublicNumbers(
            int.from_bytes(b64url_decode(jwk["x"]), "big"),
            int.from_bytes(b64url_decode(jwk["y"]), "big"),
            ec.SECP256R1(),
        ).public_key()
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        try:
            public.verify(der, f"{head_b64}.{body_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return None
        return claims
    return None

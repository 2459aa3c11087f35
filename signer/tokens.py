"""Completion tokens: ES256 JWTs signed by the service key in the HSM, published as a JWKS."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from hsm.client import Hsm
from hsm.keys import Algorithm

SERVICE_KEY_LABEL = "tillit-service-jwt"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    def __init__(self, hsm: Hsm, issuer: str) -> None:
        self.hsm = hsm
        self.issuer = issuer
        if not hsm.has_key(SERVICE_KEY_LABEL):
            hsm.generate_key(SERVICE_KEY_LABEL, Algorithm.EC_P256)
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
        header = {"alg": "ES256", "typ": "JWT", "kid": self._jwk["kid"]}
        payload = {"iss": self.issuer, "sub": subject, "aud": audience, "iat": now, "nbf": now, "exp": now + lifetime}
        payload.update(claims)
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
        )
        r, s = decode_dss_signature(self.hsm.sign(SERVICE_KEY_LABEL, signing_input.encode()))
        return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def verify_jwt(token: str, jwks: dict[str, Any]) -> dict[str, Any] | None:
    """Verify an ES256 JWT against a JWKS; return its claims, or None (bad signature or expired)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    try:
        head_b64, body_b64, sig_b64 = token.split(".")
        header = json.loads(b64url_decode(head_b64))
        claims: dict[str, Any] = json.loads(b64url_decode(body_b64))
        signature = b64url_decode(sig_b64)
    except ValueError:
        return None
    if header.get("alg") != "ES256" or len(signature) != 64:
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
        if claims.get("exp", 0) < time.time():
            return None
        return claims
    return None

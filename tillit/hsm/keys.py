"""Key algorithms and the description of a key on the token."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Algorithm(enum.StrEnum):
    EC_P256 = "ec-p256"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"

    @property
    def is_ec(self) -> bool:
        return self is Algorithm.EC_P256

    @property
    def rsa_bits(self) -> int:
        return {Algorithm.RSA_2048: 2048, Algorithm.RSA_3072: 3072}[self]


@dataclass(frozen=True)
class KeyInfo:
    label: str
    id_hex: str
    algorithm: Algorithm
    sensitive: bool
    always_sensitive: bool
    extractable: bool
    never_extractable: bool
    local: bool
    can_sign: bool
    has_certificate: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "id": self.id_hex,
            "algorithm": str(self.algorithm),
            "sensitive": self.sensitive,
            "always_sensitive": self.always_sensitive,
            "extractable": self.extractable,
            "never_extractable": self.never_extractable,
            "local": self.local,
            "can_sign": self.can_sign,
            "has_certificate": self.has_certificate,
        }

"""Customer passwords: Argon2id hashes and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from signer.errors import InvalidInput

MIN_LENGTH = 8
_COMMON = {
    "password",
    "passord",
    "12345678",
    "123456789",
    "1234567890",
    "qwertyui",
    "qwerty123",
    "passord1",
    "password1",
    "sommer2024",
    "vinter2024",
    "iloveyou",
    "11111111",
    "abcdefgh",
    "abc12345",
    "letmein1",
    "bankid123",
    "hemmelig",
    "fotball1",
    "norge123",
    "qwertzuiop",
    "00000000",
    "87654321",
    "admin123",
}


class Passwords:
    def __init__(self, time_cost: int = 2, memory_kib: int = 19456) -> None:
        self._hasher = PasswordHasher(time_cost=max(2, time_cost), memory_cost=max(19456, memory_kib), parallelism=1)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def check_policy(password: str, personal_number: str) -> None:
    """Raise InvalidInput with the rule that a new password breaks."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > 256:
        raise InvalidInput("the password may have at most 256 characters")
    if password.lower() in _COMMON:
        raise InvalidInput("this password is too common; choose another")
    if personal_number and personal_number[:6] in password:
        raise InvalidInput("the password must not contain your national identity number")

"""Norwegian national identity numbers (fødselsnummer), D-numbers and synthetic test numbers.

Layout DDMMYYIIIKK: birth date, individual number, two mod-11 check digits. D-numbers add 40 to
the day; synthetic numbers from the national test data service add 80 to the month and belong to
nobody, so they are accepted only when test numbers are enabled.
It imports no Tillit package, so that the signer, the testers' kit (tillit.phone) and the tests may
all import it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

_K1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


class NumberKind(enum.StrEnum):
    BIRTH = "fødselsnummer"
    D_NUMBER = "d-number"


class InvalidPersonalNumber(ValueError):
    """The reason is shown to the person who typed the number."""


@dataclass(frozen=True)
class PersonalNumber:
    value: str
    born: date
    kind: NumberKind
    synthetic: bool

    def age(self, today: date) -> int:
        years = today.year - self.born.year
        return years - ((today.month, today.day) < (self.born.month, self.born.day))

    def __str__(self) -> str:
        return self.value


def check_digits(first_nine: str) -> str | None:
    """The two check digits for nine digits, or None when no valid number has them."""
    digits = [int(c) for c in first_nine]
    k1 = 11 - sum(w * d for w, d in zip(_K1, digits, strict=True)) % 11
    if k1 == 11:
        k1 = 0
    if k1 == 10:
        return None
    k2 = 11 - sum(w * d for w, d in zip(_K2, [*digits, k1], strict=True)) % 11
    if k2 == 11:
        k2 = 0
    if k2 == 10:
        return None
    return f"{k1}{k2}"


def birth_century(year2: int, individual: int) -> int | None:
    """The century of birth that the individual digits give for a two-digit year, or None."""
    if individual <= 499:
        return 1900
    if individual <= 749 and year2 >= 54:
        return 1800
    if year2 <= 39:
        return 2000
    if individual >= 900:
        return 1900
    return None


def parse(text: str, allow_test_numbers: bool = False, today: date | None = None) -> PersonalNumber:
    """Validate a number; raise InvalidPersonalNumber with a reason a customer understands."""
    if not isinstance(text, str):
        raise InvalidPersonalNumber("the number must be text")
    if len(text) != 11:
        raise InvalidPersonalNumber(f"a national identity number has 11 digits, this has {len(text)}")
    if not text.isascii() or not text.isdigit():
        raise InvalidPersonalNumber("a national identity number has digits only")
    expected = check_digits(text[:9])
    if expected is None or expected != text[9:]:
        raise InvalidPersonalNumber("the check digits do not match: please check the number")
    day, month, year2, individual = int(text[0:2]), int(text[2:4]), int(text[4:6]), int(text[6:9])
    kind = NumberKind.BIRTH
    if day > 40:
        day -= 40
        kind = NumberKind.D_NUMBER
    synthetic = month > 80
    if synthetic:
        if not allow_test_numbers:
            raise InvalidPersonalNumber(
                "synthetic test numbers are not accepted here (the signer takes them with"
                " TILLIT_ALLOW_TEST_NUMBERS=1, never in production)"
            )
        month -= 80
    century = birth_century(year2, individual)
    if century is None:
        raise InvalidPersonalNumber("the individual number does not fit the year of birth")
    try:
        born = date(century + year2, month, day)
    except ValueError:
        raise InvalidPersonalNumber("the first six digits are not a real date of birth") from None
    today = today or date.today()
    number = PersonalNumber(value=text, born=born, kind=kind, synthetic=synthetic)
    if born > today:
        raise InvalidPersonalNumber("the date of birth is in the future")
    return number


def is_valid(text: str, allow_test_numbers: bool = False, today: date | None = None) -> bool:
    try:
        parse(text, allow_test_numbers, today)
    except InvalidPersonalNumber:
        return False
    return True

"""The kiosk's own check of a national identity number (fødselsnummer), as the customer types it.

The same rules as the signer's (11 digits, two mod-11 check digits, a real date of birth, D-numbers
with day + 40, synthetic test numbers with month + 80 only when test numbers are allowed), with the
check digits and the century from the signer's wire module; what is added here is the verdict on a
number only partly typed. The signer checks again. Reasons are i18n keys (see `kiosk.i18n`), so the
screen can say them in the customer's language.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tillit.signer.wire import birth_century, check_digits

LENGTH = 11


@dataclass(frozen=True)
class Check:
    """The verdict on what has been typed so far: `complete` numbers are valid; `reason` says what is wrong."""

    complete: bool
    reason: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.reason is None


def _day_month(text: str, allow_test_numbers: bool) -> tuple[int | None, int | None, str | None]:
    """Day and month of the first four digits, or the reason they cannot be a date."""
    day = int(text[0:2]) if len(text) >= 2 else None
    month = int(text[2:4]) if len(text) >= 4 else None
    if day is not None:
        if day > 40:
            day -= 40
        if not 1 <= day <= 31:
            return None, None, "number.bad_date"
    if month is not None:
        if month > 80:
            if not allow_test_numbers:
                return None, None, "number.synthetic"
            month -= 80
        if not 1 <= month <= 12:
            return None, None, "number.bad_date"
        assert day is not None
        if day > (29 if month == 2 else calendar.monthrange(2000, month)[1]):
            return None, None, "number.bad_date"
    return day, month, None


def check(text: str, allow_test_numbers: bool = False, today: date | None = None) -> Check:
    """Check a number as typed: an early reason for a wrong start, the full check at 11 digits."""
    if not text:
        return Check(False)
    if not text.isascii() or not text.isdigit():
        return Check(False, "number.digits_only")
    if len(text) > LENGTH:
        return Check(False, "number.too_long", {"count": len(text)})
    day, month, reason = _day_month(text, allow_test_numbers)
    if reason:
        return Check(False, reason)
    if len(text) >= 6 and day == 29 and month == 2 and int(text[4:6]) % 4 != 0:
        return Check(False, "number.bad_date")
    if len(text) < LENGTH:
        return Check(False)
    assert day is not None and month is not None
    if check_digits(text[:9]) != text[9:]:
        return Check(False, "number.check_digits")
    year2, individual = int(text[4:6]), int(text[6:9])
    century = birth_century(year2, individual)
    if century is None:
        return Check(False, "number.individual")
    try:
        born = date(century + year2, month, day)
    except ValueError:
        return Check(False, "number.bad_date")
    if born > (today or date.today()):
        return Check(False, "number.future")
    return Check(True)


def is_valid(text: str, allow_test_numbers: bool = False, today: date | None = None) -> bool:
    return check(text, allow_test_numbers, today).complete


def feedback(typed: str, allow_test_numbers: bool, submitting: bool = False) -> tuple[str, dict[str, Any], str]:
    """What a screen says under a number field about `typed`: an i18n key ("" for nothing), its
    parameters, and its kind: "error" (what is wrong; a number not yet whole only when
    `submitting`), "notice" (a valid number) or "muted" (how many digits so far)."""
    verdict = check(typed, allow_test_numbers)
    if verdict.reason:
        return verdict.reason, verdict.params, "error"
    if verdict.complete:
        return "number.valid", {}, "notice"
    if submitting:
        return "number.incomplete", {}, "error"
    return ("number.progress" if typed else ""), ({"count": len(typed)} if typed else {}), "muted"

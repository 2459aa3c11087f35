"""Test data: fresh synthetic national identity numbers (month + 80, valid check digits)."""

from __future__ import annotations

import itertools
from datetime import date

from tillit.numbers import check_digits

_counter = itertools.count()


def synthetic_number(born: date = date(1980, 1, 1), start: int | None = None) -> str:
    """A valid synthetic number for an adult born on `born`, different on every call."""
    base = next(_counter) if start is None else start
    first = 500 if born.year >= 2000 else 0  # individual numbers 500-999 mean the 2000s for years 00-39
    for individual in range(first + base % 500, first + 500):
        nine = f"{born.day:02d}{born.month + 80:02d}{born.year % 100:02d}{individual:03d}"
        digits = check_digits(nine)
        if digits is not None:
            return nine + digits
    raise ValueError("no number left for that date")


def fresh_adult() -> str:
    """A valid synthetic number of an adult, unique within the test session."""
    i = next(_counter)
    born = date(1950 + i % 50, 1 + (i // 50) % 12, 1 + (i // 600) % 28)
    return synthetic_number(born, start=(i * 7) % 400)

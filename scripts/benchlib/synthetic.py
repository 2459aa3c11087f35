"""Synthetic customers: valid national identity numbers that no one has, and their password."""

from __future__ import annotations

from collections.abc import Iterator

from tillit.numbers import check_digits

PASSWORD = "Fjord-Hest-2024"  # noqa: S105 (the synthetic customers' password)


def synthetic_numbers(seed: int = 0) -> Iterator[str]:
    """Valid synthetic national identity numbers (month + 80) of adults, all different."""
    day_offset = seed % 28
    for year in range(1950, 2000):
        for month in range(1, 13):
            for day in range(1, 29):
                shifted = (day - 1 + day_offset) % 28 + 1
                for individual in range(0, 500):
                    nine = f"{shifted:02d}{month + 80:02d}{year % 100:02d}{individual:03d}"
                    digits = check_digits(nine)
                    if digits is not None:
                        yield nine + digits

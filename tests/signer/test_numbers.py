"""The national identity number validator (tillit.numbers): the shared test data and properties.

Every row of tests/data/personal-numbers.tsv is checked as written. Hypothesis then checks what the
table cannot: that every well-formed number parses to the birth date it encodes, that one changed
digit is always caught (mod 11 with weights coprime to 11 detects every single-digit error), and that
no input whatsoever makes the validator raise anything but InvalidPersonalNumber.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tillit.numbers import InvalidPersonalNumber, NumberKind, PersonalNumber, check_digits, is_valid, parse

TODAY = date(2026, 11, 24)
TSV = Path(__file__).resolve().parents[1] / "data" / "personal-numbers.tsv"


def _rows() -> list[dict[str, str]]:
    lines = [line for line in TSV.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    # Not stripped: " 1389724809" (a leading space) is one of the cases.
    return list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))


ROWS = _rows()
VALID = [r for r in ROWS if r["expect"] == "valid"]
INVALID = [r for r in ROWS if r["expect"] == "invalid"]


def _id(row: dict[str, str]) -> str:
    return repr(row["number"]) + " " + row["note"]


def test_the_table_was_read() -> None:
    assert len(VALID) >= 10
    assert len(INVALID) >= 10
    assert any(r["number"].startswith(" ") for r in INVALID), "the leading-space case was stripped"


@pytest.mark.parametrize("row", VALID, ids=_id)
def test_valid_rows_parse_to_their_birth_date(row: dict[str, str]) -> None:
    number = parse(row["number"], allow_test_numbers=True, today=TODAY)
    assert isinstance(number, PersonalNumber)
    assert number.value == row["number"]
    assert number.born == date.fromisoformat(row["born"])
    assert number.synthetic is ("synthetic" in row["kind"])
    expected_kind = NumberKind.D_NUMBER if "D-number" in row["kind"] else NumberKind.BIRTH
    assert number.kind is expected_kind
    assert is_valid(row["number"], True, TODAY)


@pytest.mark.parametrize("row", [r for r in VALID if "synthetic" in r["kind"]], ids=_id)
def test_synthetic_rows_are_refused_without_test_numbers(row: dict[str, str]) -> None:
    with pytest.raises(InvalidPersonalNumber, match="synthetic"):
        parse(row["number"], allow_test_numbers=False, today=TODAY)
    assert not is_valid(row["number"], False, TODAY)


@pytest.mark.parametrize("allow", [True, False])
@pytest.mark.parametrize("row", INVALID, ids=_id)
def test_invalid_rows_are_refused_with_a_reason(row: dict[str, str], allow: bool) -> None:
    with pytest.raises(InvalidPersonalNumber) as caught:
        parse(row["number"], allow_test_numbers=allow, today=TODAY)
    assert str(caught.value), "a customer must be told why"
    assert not is_valid(row["number"], allow, TODAY)


def test_ages_from_the_table() -> None:
    by_note = {r["note"].split(",")[0].split(";")[0]: r["number"] for r in VALID}
    assert parse(by_note["minor"], True, TODAY).age(TODAY) == 15
    assert parse(by_note["turns 13 on 2026-11-30"], True, TODAY).age(TODAY) == 12
    assert parse(by_note["turns 13 on 2026-11-30"], True, TODAY).age(date(2026, 11, 30)) == 13
    assert parse(by_note["leap day"], True, TODAY).age(TODAY) == 18


def test_a_birth_date_after_today_is_refused() -> None:
    # 15861151252: born 2011-06-15; "today" the day before that.
    with pytest.raises(InvalidPersonalNumber, match="future"):
        parse("15861151252", True, date(2011, 6, 14))
    assert parse("15861151252", True, date(2011, 6, 15)).born == date(2011, 6, 15)


# -- properties ----------------------------------------------------------------------------------------


def _individual_numbers(year: int) -> st.SearchStrategy[int]:
    """Individual numbers that, per the century rule of the table's header, belong to `year`."""
    if 1854 <= year <= 1899:
        return st.integers(500, 749)
    if 1900 <= year <= 1939:
        return st.integers(0, 499)
    if 1940 <= year <= 1999:
        return st.one_of(st.integers(0, 499), st.integers(900, 999))
    assert 2000 <= year <= 2039
    return st.integers(500, 999)


@st.composite
def well_formed(draw: st.DrawFn) -> tuple[str, date, bool, bool]:
    """(number, birth date, d_number, synthetic) with correct check digits and a real date."""
    born = draw(st.dates(min_value=date(1854, 1, 1), max_value=TODAY))
    individual = draw(_individual_numbers(born.year))
    d_number = draw(st.booleans())
    synthetic = draw(st.booleans())
    day = born.day + (40 if d_number else 0)
    month = born.month + (80 if synthetic else 0)
    nine = f"{day:02d}{month:02d}{born.year % 100:02d}{individual:03d}"
    digits = check_digits(nine)
    assume(digits is not None)  # about 1 in 6: no valid check digit for these nine
    assert digits is not None
    return nine + digits, born, d_number, synthetic


@given(well_formed())
def test_every_well_formed_number_parses_to_its_date(case: tuple[str, date, bool, bool]) -> None:
    text, born, d_number, synthetic = case
    number = parse(text, allow_test_numbers=True, today=TODAY)
    assert number.born == born
    assert number.kind is (NumberKind.D_NUMBER if d_number else NumberKind.BIRTH)
    assert number.synthetic is synthetic
    assert is_valid(text, allow_test_numbers=False, today=TODAY) is not synthetic


@given(well_formed(), st.integers(0, 10), st.integers(1, 9))
def test_one_changed_digit_is_always_caught(case: tuple[str, date, bool, bool], position: int, delta: int) -> None:
    text = case[0]
    changed = text[:position] + str((int(text[position]) + delta) % 10) + text[position + 1 :]
    assert changed != text
    with pytest.raises(InvalidPersonalNumber):
        parse(changed, allow_test_numbers=True, today=TODAY)


@given(well_formed(), st.integers(0, 10), st.integers(1, 9))
def test_one_changed_digit_fails_on_the_check_digits(
    case: tuple[str, date, bool, bool], position: int, delta: int
) -> None:
    """Not merely invalid: the reason is the check digits, so the date is never silently different."""
    text = case[0]
    changed = text[:position] + str((int(text[position]) + delta) % 10) + text[position + 1 :]
    expected = check_digits(changed[:9])
    assert expected != changed[9:]


NON_ASCII_DIGITS = st.sampled_from("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹０１２３４５６７８９¹²³⁴⁵")


@given(
    st.one_of(
        st.text(min_size=11, max_size=11),
        st.text(),
        st.lists(st.one_of(st.sampled_from("0123456789"), NON_ASCII_DIGITS), min_size=11, max_size=11).map("".join),
    )
)
def test_anything_but_eleven_ascii_digits_is_refused(text: str) -> None:
    assume(not (len(text) == 11 and all(c in "0123456789" for c in text)))
    with pytest.raises(InvalidPersonalNumber):
        parse(text, allow_test_numbers=True, today=TODAY)


ANY_INPUT: st.SearchStrategy[Any] = st.one_of(
    st.text(),
    st.from_regex(r"[0-9]{11}", fullmatch=True),
    st.from_regex(r"[0-9 +\-.]{9,13}", fullmatch=True),
    st.binary(),
    st.integers(),
    st.floats(),
    st.none(),
    st.lists(st.integers(0, 9), max_size=11),
)


@given(ANY_INPUT, st.booleans(), st.dates())
def test_nothing_raises_but_invalid_personal_number(value: Any, allow: bool, today: date) -> None:
    try:
        number = parse(value, allow_test_numbers=allow, today=today)
    except InvalidPersonalNumber as e:
        assert str(e)
        assert not is_valid(value, allow, today)
    else:
        assert isinstance(value, str)
        assert number.value == value
        assert number.born <= today
        assert is_valid(value, allow, today)

"""Exact money: minor units, ISO 4217 exponents, banker's rounding, no floats."""

from __future__ import annotations

import pytest

from crm_deals.domain.money import format_amount, parse_amount, validate_currency, weighted_minor
from crm_kit.errors import BadUserInput


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("1250.50", "USD", 125050),
        ("1250.5", "USD", 125050),
        ("1250", "USD", 125000),
        ("0.01", "EUR", 1),
        ("1250", "JPY", 1250),
        ("1250.000", "JPY", 1250),
        ("1.234", "KWD", 1234),
        ("0", "USD", 0),
    ],
)
def test_parse_amount(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    "text",
    ["12.345", "1,250.50", "-5", "1e3", "abc", "", " . ", "12.", "NaN", "0x10"],
)
def test_bad_amounts_name_the_field(text: str) -> None:
    with pytest.raises(BadUserInput) as caught:
        parse_amount(text, "USD")
    assert caught.value.field == "input.amount"


def test_jpy_has_no_decimals_and_kwd_three() -> None:
    with pytest.raises(BadUserInput):
        parse_amount("10.5", "JPY")
    with pytest.raises(BadUserInput):
        parse_amount("1.2345", "KWD")


def test_format_amount_round_trips() -> None:
    assert format_amount(125050, "USD") == "1250.50"
    assert format_amount(1250, "JPY") == "1250"
    assert format_amount(1234, "KWD") == "1.234"
    assert format_amount(5, "USD") == "0.05"
    for text in ("0.00", "1.01", "99999999.99"):
        assert format_amount(parse_amount(text, "USD"), "USD") == text


def test_currency_validation() -> None:
    assert validate_currency("usd") == "USD"
    with pytest.raises(BadUserInput) as caught:
        validate_currency("XYZ")
    assert caught.value.field == "input.currency"


@pytest.mark.parametrize(
    ("amount", "probability", "expected"),
    [
        (125050, 10, 12505),
        (5, 50, 2),  # 2.5 -> 2 (half to even)
        (7, 50, 4),  # 3.5 -> 4
        (1, 50, 0),  # 0.5 -> 0
        (3, 50, 2),  # 1.5 -> 2
        (333, 33, 110),  # 109.89 -> 110
        (100, 0, 0),
        (100, 100, 100),
    ],
)
def test_weighted_amount_is_integer_half_even(amount: int, probability: int, expected: int) -> None:
    assert weighted_minor(amount, probability) == expected

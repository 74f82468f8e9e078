"""Exact money: integer minor units plus an ISO 4217 currency; decimal strings on the wire.

No float ever touches an amount. Weighted amounts are integer arithmetic rounded half to
even (banker's rounding), so a board's totals do not drift upwards over many deals.
"""

from __future__ import annotations

import re

from crm_kit.errors import BadUserInput

# ISO 4217 code -> minor-unit exponent (digits after the decimal point).
CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        [
            "AED",
            "ARS",
            "AUD",
            "BDT",
            "BGN",
            "BRL",
            "CAD",
            "CHF",
            "CNY",
            "COP",
            "CZK",
            "DKK",
            "EGP",
            "EUR",
            "GBP",
            "HKD",
            "HUF",
            "IDR",
            "ILS",
            "INR",
            "KES",
            "MAD",
            "MXN",
            "MYR",
            "NGN",
            "NOK",
            "NZD",
            "PEN",
            "PHP",
            "PKR",
            "PLN",
            "QAR",
            "RON",
            "RUB",
            "SAR",
            "SEK",
            "SGD",
            "THB",
            "TRY",
            "TWD",
            "UAH",
            "USD",
            "ZAR",
        ],
        2,
    ),
    **dict.fromkeys(
        ["CLP", "ISK", "JPY", "KRW", "PYG", "RWF", "UGX", "VND", "XAF", "XOF", "XPF"], 0
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
}

# 10^15 minor units: far above any deal, far below where int64 storage could overflow sums.
MAX_MINOR = 10**15
# ASCII digits only (`\d` would take Arabic-Indic and other digits), at most 16 before the
# point and 6 after: longer text is refused before `int()` could spend time on it.
MAX_AMOUNT_TEXT = 23
_DECIMAL = re.compile(r"^([0-9]{1,16})(?:\.([0-9]{1,6}))?$")


def exponent(currency: str) -> int:
    return CURRENCY_EXPONENTS[currency]


def validate_currency(currency: str, field: str = "input.currency") -> str:
    code = (currency or "").strip().upper()
    if code not in CURRENCY_EXPONENTS:
        raise BadUserInput(f"unknown ISO 4217 currency {currency!r}", field=field)
    return code


def parse_amount(text: str, currency: str, field: str = "input.amount") -> int:
    """ "1250.50" USD -> 125050. Rejects signs, exponents, separators and more decimals
    than the currency has (a JPY amount has none, a KWD amount up to three)."""
    raw = (text or "").strip()
    match = _DECIMAL.fullmatch(raw) if len(raw) <= MAX_AMOUNT_TEXT else None
    if match is None:
        raise BadUserInput(
            f"amount must be a non-negative decimal string like '1250.50', got {text!r}",
            field=field,
        )
    whole, fraction = match.group(1), match.group(2) or ""
    digits = exponent(currency)
    if len(fraction.rstrip("0")) > digits:
        raise BadUserInput(
            f"{currency} amounts have at most {digits} decimal places, got {text!r}",
            field=field,
        )
    fraction = fraction[:digits].ljust(digits, "0")
    minor = int(whole) * 10**digits + (int(fraction) if fraction else 0)
    if minor > MAX_MINOR:
        raise BadUserInput("amount is too large", field=field)
    return minor


def format_amount(minor: int, currency: str) -> str:
    """125050 USD -> "1250.50"; 1250 JPY -> "1250"; negative values keep their sign."""
    digits = exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**digits)
    return f"{sign}{whole}.{fraction:0{digits}d}" if digits else f"{sign}{whole}"


def weighted_minor(amount_minor: int, probability: int) -> int:
    """amount x probability / 100, rounded half to even, in integers only."""
    quotient, remainder = divmod(amount_minor * probability, 100)
    if remainder * 2 > 100 or (remainder * 2 == 100 and quotient % 2 == 1):
        quotient += 1
    return quotient

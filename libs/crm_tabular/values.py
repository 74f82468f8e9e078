"""Text from a cell to a typed value, one function per field type. Each raises
ValueProblem with a reason that reads after the value (`'many' is not a number`).

Numbers take thousands separators, currency marks (amounts), spaces, accounting
parentheses and either decimal separator: given, or judged per value (`1.234,50` and
`1,234.50` both read 1234.50; `1,5` is 1.5; `1,234` alone is 1234, as most exports mean).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from email.utils import parseaddr
from enum import StrEnum
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import orjson

from . import dates
from .errors import ValueProblem


class FieldType(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    AMOUNT = "amount"  # a decimal that may carry a currency mark
    CURRENCY = "currency"  # an ISO 4217 code, upper-cased
    DATE = "date"
    DATETIME = "datetime"
    EMAIL = "email"
    PHONE = "phone"
    URL = "url"
    DOMAIN = "domain"  # normalised (no scheme, www. or path); the owning service validates
    BOOLEAN = "boolean"
    ENUM = "enum"
    LIST = "list"  # text items split on `;` (or `,` when there is no `;`)
    AUTO = "auto"  # custom fields: a whole number, a decimal number or text


@dataclass(frozen=True, slots=True)
class Conversion:
    """How to read one field's text."""

    type: FieldType
    date_format: str | None = None
    timezone: str = "UTC"
    decimal_separator: str | None = None
    separator: str | None = None
    choices: tuple[str, ...] = ()


Parser = Callable[[str], Any]


def convert(text: str, how: Conversion) -> Any:
    """`text` (stripped, not blank) as the field's type."""
    return parser_for(how)(text)


def parser_for(how: Conversion) -> Parser:
    """The reader of one field's text, its options bound (built once per file)."""
    kind, separator = how.type, how.decimal_separator
    if kind is FieldType.TEXT:
        return unguarded
    if kind is FieldType.INTEGER:
        return lambda text: parse_integer(text, separator)
    if kind is FieldType.DECIMAL:
        return lambda text: parse_decimal(text, separator)
    if kind is FieldType.AMOUNT:
        return lambda text: parse_amount(text, separator)[0]
    if kind is FieldType.DATE:
        return partial(dates.parse_date, fmt=how.date_format)
    if kind is FieldType.DATETIME:
        return partial(dates.parse_datetime, fmt=how.date_format, zone=how.timezone)
    return partial(_PARSERS[kind], how=how)


# A text a CSV writer guarded against running as a spreadsheet formula (`'=SUM(A1)`, see
# `write.safe_text`): the apostrophe is the guard's, not the value's.
_GUARDED = ("'=", "'+", "'-", "'@")


def unguarded(text: str) -> str:
    return text[1:] if text.startswith(_GUARDED) else text


SIGNS = {"€": "EUR", "£": "GBP", "₹": "INR", "₽": "RUB", "₩": "KRW", "₺": "TRY", "₪": "ILS"}
# Signs shared by several currencies: stripped, the currency left to the default.
SHARED_SIGNS = "$¥"
_CODE_FIRST = re.compile(r"([A-Z]{3})\s*(.+)")
_CODE_LAST = re.compile(r"(.+?)\s*([A-Z]{3})")
_PLAIN = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
MAX_DIGITS = 30
_SIMPLE = re.compile(r"-?\d{1,30}(?:\.\d{1,30})?")
_SPACES = str.maketrans("", "", " \u00a0\u202f'_")


def split_currency(text: str) -> tuple[str, str | None, bool]:
    """(number text, ISO code named by the text or None, whether a mark was there)."""
    text = text.strip()
    for sign, code in SIGNS.items():
        if sign in text:
            return text.replace(sign, "").strip(), code, True
    for sign in SHARED_SIGNS:
        if sign in text:
            return text.replace(sign, "").strip(), None, True
    for pattern, number_group, code_group in ((_CODE_FIRST, 2, 1), (_CODE_LAST, 1, 2)):
        match = pattern.fullmatch(text)
        if match:
            return match.group(number_group), match.group(code_group), True
    return text, None, False


def _simple(text: str, separator: str | None) -> bool:
    """Digits with at most a decimal point that is one (`1.200` is 1200 in a file written
    with decimal commas)."""
    return _SIMPLE.fullmatch(text) is not None and (separator != "," or "." not in text)


def parse_decimal(text: str, separator: str | None = None) -> Decimal:
    if _simple(text, separator):  # most numbers: no sign, group or mark to read
        return Decimal(text)
    number = text.strip()
    negative = False
    if number.startswith("(") and number.endswith(")"):
        negative, number = True, number[1:-1].strip()
    number = number.replace("\u2212", "-")
    if number[:1] in "+-":
        negative ^= number[0] == "-"
        number = number[1:].strip()
    elif number.endswith("-"):
        negative, number = not negative, number[:-1].strip()
    number = number.translate(_SPACES)
    decimal_mark = separator or _guess_separator(number)
    group = "," if decimal_mark == "." else "."
    whole, mark, fraction = number.partition(decimal_mark)
    if group in whole:
        if re.fullmatch(rf"\d{{1,3}}(?:{re.escape(group)}\d{{3}})+", whole) is None:
            raise ValueProblem("is not a number")
        whole = whole.replace(group, "")
    number = whole + ("." + fraction if mark else "")
    if _PLAIN.fullmatch(number) is None:
        raise ValueProblem("is not a number")
    try:
        value = Decimal(number)
    except InvalidOperation:
        raise ValueProblem("is not a number") from None
    if value and value.adjusted() > MAX_DIGITS:
        raise ValueProblem(f"is too large a number (more than {MAX_DIGITS} digits)")
    return -value if negative else value


def _guess_separator(number: str) -> str:
    commas, dots = number.count(","), number.count(".")
    if commas and dots:
        return "," if number.rfind(",") > number.rfind(".") else "."
    if dots > 1:
        return ","
    if commas == 1 and re.fullmatch(r"\d{1,3},\d{3}", number) is None:
        return ","
    return "."


def parse_integer(text: str, separator: str | None = None) -> int:
    value = parse_decimal(text, separator)
    if value != value.to_integral_value():
        raise ValueProblem("is not a whole number")
    return int(value)


def parse_amount(text: str, separator: str | None = None) -> tuple[Decimal, str | None]:
    if _simple(text, separator):
        return Decimal(text), None
    number, code, _ = split_currency(text)
    return parse_decimal(number, separator), code


TRUE = frozenset({"true", "yes", "y", "t", "1", "on"})
FALSE = frozenset({"false", "no", "n", "f", "0", "off"})


def parse_boolean(text: str, how: Conversion | None = None) -> bool:
    word = text.strip().casefold()
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    raise ValueProblem("is not yes or no (true/false, yes/no, 1/0)")


_EMAIL = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\".]{2,}")


def parse_email(text: str, how: Conversion | None = None) -> str:
    address = parseaddr(text)[1] if "<" in text else text.strip()
    address = address.strip().lower()
    if _EMAIL.fullmatch(address) is None:
        raise ValueProblem("is not an email address")
    return address


_PHONE = re.compile(r"\+?[\d\s().\-/]+(?:\s*(?:x|ext\.?|#)\s*\d+)?", re.IGNORECASE)


def parse_phone(text: str, how: Conversion | None = None) -> str:
    digits = sum(char.isdigit() for char in text)
    if _PHONE.fullmatch(text) is None or not 5 <= digits <= 20:
        raise ValueProblem("is not a phone number")
    return " ".join(text.split())


def parse_url(text: str, how: Conversion | None = None) -> str:
    candidate = text if "://" in text else f"https://{text}"
    try:
        parts = urlsplit(candidate)
        host = parts.hostname or ""
    except ValueError:  # `[…]` is read as an IPv6 host: `["EMEA", "APAC"]` is no address
        raise ValueProblem("is not a web address") from None
    if parts.scheme not in ("http", "https") or "." not in host or " " in text:
        raise ValueProblem("is not a web address")
    return text


def normalise_domain(text: str, how: Conversion | None = None) -> str:
    host = text.strip().lower()
    if "://" in host:
        host = host.split("://", 1)[1]
    host = host.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if "@" in host:  # an email address: its domain
        host = host.rsplit("@", 1)[1]
    host = host.split(":", 1)[0].rstrip(".")
    return host.removeprefix("www.")


def split_list(text: str, how: Conversion | None = None) -> list[str]:
    separator = (how.separator if how else None) or (";" if ";" in text else ",")
    return [item.strip() for item in text.split(separator) if item.strip()]


def choice_key(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip().casefold())


def parse_choice(text: str, how: Conversion | None = None) -> str:
    choices = how.choices if how else ()
    wanted = choice_key(text)
    for choice in choices:
        if choice_key(choice) == wanted:
            return choice
    raise ValueProblem(f"is not one of {', '.join(choices)}")


def parse_currency(text: str, how: Conversion | None = None) -> str:
    code = text.strip().upper()
    if re.fullmatch(r"[A-Z]{3}", code) is None:
        code = SIGNS.get(text.strip(), "")
        if not code:
            raise ValueProblem("is not a currency code (ISO 4217, such as USD or EUR)")
    return code


_WHOLE = re.compile(r"-?(?:0|[1-9]\d*)")
_FRACTION = re.compile(r"-?(?:0|[1-9]\d*)\.\d+")
_LEADING_ZERO = re.compile(r"[+-]?0\d")


def parse_auto(text: str, how: Conversion | None = None) -> int | float | bool | list[Any] | str:
    """Numbers stay numbers in custom fields; `007` (a code, not a number) stays text.
    With a decimal separator given, numbers written with it (`1.234,50`) count too.
    `true`/`false` (a checkbox column, as Excel and an export write it) are booleans, and a
    JSON list of texts, numbers and booleans (an export's list value) is that list."""
    if text.casefold() in ("true", "false"):
        return text.casefold() == "true"
    if text.startswith("[") and text.endswith("]"):
        return _flat_list(text)
    if _WHOLE.fullmatch(text):
        return int(text)
    if _FRACTION.fullmatch(text):
        return float(text)
    separator = how.decimal_separator if how else None
    if separator is not None and _LEADING_ZERO.match(text) is None:
        try:
            value = parse_decimal(text, separator)
        except ValueProblem:
            return text
        return int(value) if value == value.to_integral_value() else float(value)
    return text


def _flat_list(text: str) -> list[Any] | str:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    flat = isinstance(value, list) and all(isinstance(v, str | int | float | bool) for v in value)
    return value if flat else text


_PARSERS: dict[FieldType, Any] = {
    FieldType.BOOLEAN: parse_boolean,
    FieldType.EMAIL: parse_email,
    FieldType.PHONE: parse_phone,
    FieldType.URL: parse_url,
    FieldType.DOMAIN: normalise_domain,
    FieldType.LIST: split_list,
    FieldType.ENUM: parse_choice,
    FieldType.AUTO: parse_auto,
    FieldType.CURRENCY: parse_currency,
}

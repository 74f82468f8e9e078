"""What each column holds, judged on a sample of rows: the most specific type that every
filled value fits, and for dates every format that reads all of them (two formats that read
some value differently, `01-02-2018` as 1 February or 2 January, make it ambiguous)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import dates
from .errors import ValueProblem
from .table import Row
from .values import (
    FALSE,
    TRUE,
    FieldType,
    parse_amount,
    parse_decimal,
    parse_email,
    parse_integer,
    parse_phone,
    parse_url,
    split_currency,
)

EXAMPLES = 3
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_LEADING_ZERO = re.compile(r"[+-]?0\d")
_SHORT_GROUP = re.compile(r"\d \d{1,2} \d")


@dataclass
class ColumnProfile:
    name: str
    position: int  # 1-based
    type: str  # a FieldType value, or "empty" when no sampled row fills it
    filled: int
    blank: int
    date_formats: list[str] = field(default_factory=list)
    ambiguous_dates: bool = False
    decimal_separator: str | None = None
    currencies: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "position": self.position,
            "type": str(self.type),
            "filled": self.filled,
            "blank": self.blank,
            "dateFormats": self.date_formats,
            "ambiguousDates": self.ambiguous_dates,
            "decimalSeparator": self.decimal_separator,
            "currencies": self.currencies,
            "examples": self.examples,
        }


def profile_columns(
    header: Sequence[str], rows: Sequence[Row], delimiter: str | None = None
) -> list[ColumnProfile]:
    """Each column's profile. `delimiter` (a CSV's) is the last evidence of how numbers
    are written: spreadsheets in comma-decimal locales write CSV with `;`."""
    columns: list[tuple[ColumnProfile, list[str]]] = []
    for index, name in enumerate(header):
        texts = [row.values[index].strip() for row in rows if index < len(row.values)]
        filled = [text for text in texts if text]
        profile = ColumnProfile(name, index + 1, "empty", len(filled), len(texts) - len(filled))
        profile.examples = list(dict.fromkeys(filled))[:EXAMPLES]
        columns.append((profile, filled))
    # `1.200` alone may be 1.2 or 1200: the file's other numbers say which convention it
    # follows (a `;` file with `99,90` beside it means 1200); without any, a `;` file is
    # read the comma-decimal way and any other the point-decimal way.
    evidence = [decimal_marks(filled) for _, filled in columns]
    decided = set().union(*(marks for marks in evidence if len(marks) == 1))
    unsaid = "," if delimiter == ";" else "."
    convention = decided.pop() if len(decided) == 1 else unsaid
    for (profile, filled), marks in zip(columns, evidence, strict=True):
        if filled:
            separator = (marks.pop() if len(marks) == 1 else None) if marks else convention
            _infer(profile, filled, separator)
    return [profile for profile, _ in columns]


def _all(values: list[str], check: Callable[[str], object]) -> bool:
    for value in values:
        try:
            if check(value) is False:
                return False
        except ValueProblem:
            return False
    return True


def _infer(profile: ColumnProfile, values: list[str], separator: str | None) -> None:
    words = {value.casefold() for value in values}
    if words <= TRUE | FALSE and not words <= {"0", "1"}:
        profile.type = FieldType.BOOLEAN
        return
    if _all(values, _dialled):
        profile.type = FieldType.PHONE
        return
    if separator is not None and not any(_LEADING_ZERO.match(value) for value in values):
        # (A leading zero makes a code, not a number: `007`, `02134`.)
        if _all(values, lambda v: parse_integer(v, separator)):
            profile.type, profile.decimal_separator = FieldType.INTEGER, separator
            return
        if _all(values, lambda v: parse_decimal(v, separator)):
            profile.type, profile.decimal_separator = FieldType.DECIMAL, separator
            return
        if _all(values, lambda v: parse_amount(v, separator)):
            profile.type, profile.decimal_separator = FieldType.AMOUNT, separator
            codes = {split_currency(value)[1] for value in values}
            profile.currencies = sorted(code for code in codes if code)
            return
    if _dated(profile, values):
        return
    if _all(values, parse_email):
        profile.type = FieldType.EMAIL
    elif _all(values, lambda v: "@" not in v and parse_url(v)):
        profile.type = FieldType.URL
    elif _all(values, lambda v: sum(c.isdigit() for c in v) >= 7 and parse_phone(v)):
        profile.type = FieldType.PHONE
    else:
        profile.type = FieldType.TEXT


def _dialled(value: str) -> bool:
    """A phone number a lenient number reading would take for an integer: an
    international `+33 1 23 45 67 89`, a `(555) 123 4567`, digits in groups of one or two
    (thousands come in threes)."""
    if sum(c.isdigit() for c in value) < 7:
        return False
    shaped = value.startswith("+") or "(" in value or _SHORT_GROUP.search(value) is not None
    return shaped and bool(parse_phone(value))


def _dated(profile: ColumnProfile, values: list[str]) -> bool:
    # An ISO value with a time (a workbook's typed date-time) makes the column date-times.
    timed = any(not _ISO_DAY.fullmatch(value) and dates.is_iso(value) for value in values)
    day_formats = [
        fmt
        for fmt in dates.fitting_formats(values, dates.DATE_FORMATS)
        if not timed and (fmt != dates.ISO or all(_ISO_DAY.fullmatch(value) for value in values))
    ]
    if day_formats:
        profile.type = FieldType.DATE
        profile.date_formats = day_formats
    else:
        formats = dates.fitting_formats(values, dates.DATETIME_FORMATS)
        if not formats:
            return False
        profile.type = FieldType.DATETIME
        profile.date_formats = formats
    profile.ambiguous_dates = dates.ambiguous(values, profile.date_formats)
    return True


def decimal_marks(values: list[str]) -> set[str]:
    """The decimal separators the numbers among `values` can only be read with: `,` for
    `99,90` or `1.234,50`, `.` for `99.90` or `1,234.50`; `1,234` and `1.234` say
    nothing. Two marks: the column disagrees with itself (not numbers)."""
    seen: set[str] = set()
    for value in values:
        number = split_currency(value)[0].replace(" ", "").replace("\u00a0", "")
        if not (
            _all([number], lambda v: parse_decimal(v, "."))
            or _all([number], lambda v: parse_decimal(v, ","))
        ):
            continue  # a date, a version, text: no say in how numbers are written
        last_comma, last_dot = number.rfind(","), number.rfind(".")
        if last_comma > last_dot and not re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+", number):
            seen.add(",")
        elif last_dot > last_comma and not re.fullmatch(r"[+-]?\d{1,3}(\.\d{3})+", number):
            seen.add(".")
        if len(seen) > 1:
            break
    return seen

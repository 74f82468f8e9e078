"""Date and date-time formats: the ones a preview tries, and parsing by one of them.

Formats are `strftime` codes (`%d-%m-%Y`) plus `iso` (ISO 8601: `2018-02-26`,
`2018-02-26 19:58:54`, `2018-02-26T19:58:54Z`, offsets, fractions). Each format gets a
regular expression of its shape, so trying many formats on many values costs a regex
match where it cannot fit, and a strptime only where it may.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ValueProblem

ISO = "iso"

DATE_FORMATS = (
    ISO,
    "%d-%m-%Y", "%m-%d-%Y", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%Y.%m.%d",
    "%d/%m/%y", "%m/%d/%y", "%d.%m.%y", "%d-%m-%y", "%m-%d-%y",
    "%d-%b-%Y", "%d %b %Y", "%b %d, %Y", "%d %B %Y", "%B %d, %Y", "%d-%b-%y",
)  # fmt: skip
_TIMES = (" %H:%M:%S", " %H:%M", " %I:%M %p", " %I:%M:%S %p", "T%H:%M:%S", "T%H:%M")
_DATED = (
    "%Y-%m-%d", "%d-%m-%Y", "%m-%d-%Y", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d",
    "%d/%m/%y", "%m/%d/%y",
)  # fmt: skip
DATETIME_FORMATS = (ISO, *(day + clock for day in _DATED for clock in _TIMES))

_DIRECTIVES = {
    "Y": r"\d{4}", "y": r"\d{2}", "m": r"\d{1,2}", "d": r"\d{1,2}", "H": r"\d{1,2}",
    "I": r"\d{1,2}", "M": r"\d{1,2}", "S": r"\d{1,2}", "f": r"\d{1,6}", "p": r"(?i:am|pm)",
    "b": r"[^\W\d_]{3,4}\.?", "B": r"[^\W\d_]{3,}", "a": r"[^\W\d_]{3}", "A": r"[^\W\d_]{3,}",
    "z": r"(?:Z|[+-]\d{2}:?\d{2})", "Z": r"[A-Z]{1,5}", "j": r"\d{1,3}", "%": "%",
}  # fmt: skip
_ISO_SHAPE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,6})?)?"
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
)
_TIME_CODES = frozenset("HIMSfpzZ")


DateProblem = ValueProblem


@cache
def shape_of(fmt: str) -> re.Pattern[str]:
    """A regular expression that every string `fmt` can parse matches."""
    if fmt == ISO:
        return _ISO_SHAPE
    parts: list[str] = []
    index = 0
    while index < len(fmt):
        char = fmt[index]
        if char == "%" and index + 1 < len(fmt):
            code = fmt[index + 1]
            if code not in _DIRECTIVES:
                raise DateProblem(f"%{code} is not a supported directive")
            parts.append(_DIRECTIVES[code])
            index += 2
        else:
            parts.append(r"\s+" if char == " " else re.escape(char))
            index += 1
    return re.compile("".join(parts))


def check_format(fmt: str) -> str | None:
    """Why `fmt` cannot be a date format, or None if it can."""
    if fmt == ISO:
        return None
    if "%" not in fmt:
        return f"{fmt!r} has no % directive (e.g. %d-%m-%Y)"
    try:
        shape_of(fmt)
        datetime(2001, 2, 3, 4, 5, 6).strftime(fmt)
    except (DateProblem, ValueError) as error:
        return f"{fmt!r}: {error}"
    return None


def has_time(fmt: str) -> bool:
    return fmt == ISO or any(f"%{code}" in fmt for code in _TIME_CODES)


def parse_datetime_with(text: str, fmt: str) -> datetime:
    """`text` read by `fmt`, as a datetime (naive unless the text says its offset). An
    ISO 8601 text is read as ISO whatever `fmt` says: it starts with a four-digit year, so
    it cannot mean another day, and a workbook holds its typed dates that way beside dates
    typed as text in the column's own format."""
    iso = fmt == ISO or (not shape_of(fmt).fullmatch(text) and _ISO_SHAPE.fullmatch(text))
    if iso:
        fmt = ISO
    if shape_of(fmt).fullmatch(text) is None:
        raise DateProblem(_mismatch(fmt))
    try:
        if fmt == ISO:
            return datetime.fromisoformat(text.replace(",", "."))
        return datetime.strptime(text, fmt)
    except ValueError:
        raise DateProblem(_mismatch(fmt)) from None


def _mismatch(fmt: str) -> str:
    return "is not an ISO 8601 date" if fmt == ISO else f"does not match the date format {fmt}"


def parse_date(text: str, fmt: str | None) -> date:
    if (fmt is None or fmt == ISO) and len(text) == 10:
        try:
            return date.fromisoformat(text)  # the common case, without the regex
        except ValueError:
            pass
    return parse_datetime_with(text, fmt or ISO).date()


def parse_datetime(text: str, fmt: str | None, zone: str) -> datetime:
    """An aware datetime in UTC: a value without an offset is a time in `zone`."""
    moment = parse_datetime_with(text, fmt or ISO)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone_info(zone))
    return moment.astimezone(UTC)


def date_as_datetime(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@cache
def zone_info(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DateProblem(
            f"unknown time zone {name!r} (an IANA name such as Europe/Paris)"
        ) from None


def is_iso(text: str) -> bool:
    """Whether `text` has the shape of an ISO 8601 date or date-time."""
    return _ISO_SHAPE.fullmatch(text) is not None


def fitting_formats(values: list[str], formats: tuple[str, ...]) -> list[str]:
    """The formats that parse every one of `values`, in the order given. ISO 8601 values
    among others say nothing about the column's format (any format reads them, see
    `parse_datetime_with`), so only the others choose it."""
    others = [value for value in values if not _ISO_SHAPE.fullmatch(value)]
    if len(others) < len(values):
        if not all(_parses(value, ISO) for value in values if value not in others):
            return []
        if not others:
            return [ISO] if ISO in formats else []
        values = others
    survivors = list(formats)
    for value in values:
        survivors = [fmt for fmt in survivors if _parses(value, fmt)]
        if not survivors:
            break
    return survivors


def _parses(value: str, fmt: str) -> bool:
    try:
        parse_datetime_with(value, fmt)
    except DateProblem:
        return False
    return True


def ambiguous(values: list[str], formats: list[str]) -> bool:
    """Whether the fitting formats read some value as different moments (`01-02-2018` as
    1 February or 2 January)."""
    return any(len({parse_datetime_with(value, fmt) for fmt in formats}) > 1 for value in values)

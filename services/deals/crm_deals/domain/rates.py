"""Exchange rates and conversion of exact amounts (pure: `Decimal`, no float).

A rate says: on `day`, one unit of `currency` is worth `rate` units of `quote`. The rate
of a day is the latest one entered on or before it (rates are entered for business days;
a weekend uses Friday's); without a direct one, the inverse of the reverse pair's. An
amount is converted once, in minor units, rounded half to even:
`minor x rate x 10^(quote exponent - currency exponent)`. Amounts stay stored in their
own currency; only reports convert.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from crm_kit.errors import BadUserInput

from .money import exponent, validate_currency

MAX_RATE_DIGITS = 18
_RATE = re.compile(r"^\d{1,12}(\.\d{1,12})?$")


def parse_rate(text: str, field: str) -> Decimal:
    raw = (text or "").strip()
    if not _RATE.match(raw):
        raise BadUserInput(
            f"rate must be a positive decimal string like '1.0842', got {text!r}", field=field
        )
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise BadUserInput(f"invalid rate {text!r}", field=field) from None
    if value <= 0:
        raise BadUserInput("rate must be above zero", field=field)
    return value


@dataclass(frozen=True)
class Rate:
    currency: str
    quote: str
    day: date
    rate: Decimal

    @classmethod
    def checked(cls, currency: str, quote: str, day: date, rate: str, field: str) -> Rate:
        base = validate_currency(currency, f"{field}.currency")
        target = validate_currency(quote, f"{field}.quoteCurrency")
        if base == target:
            raise BadUserInput(
                "a rate needs two different currencies", field=f"{field}.quoteCurrency"
            )
        return cls(base, target, day, parse_rate(rate, f"{field}.rate"))


class RateTable:
    """The workspace's rates, looked up by (currency, quote, day)."""

    def __init__(self, rates: Iterable[Rate] = ()) -> None:
        self._pairs: dict[tuple[str, str], tuple[list[date], list[Decimal]]] = {}
        for r in sorted(rates, key=lambda r: (r.currency, r.quote, r.day)):
            days, values = self._pairs.setdefault((r.currency, r.quote), ([], []))
            if days and days[-1] == r.day:
                values[-1] = r.rate
            else:
                days.append(r.day)
                values.append(r.rate)

    def __bool__(self) -> bool:
        return bool(self._pairs)

    @functools.cached_property
    def key(self) -> tuple[object, ...]:
        """The table's content as a hashable value: equal keys, equal conversions (what
        a report computed with one table is kept under)."""
        return tuple(
            (pair, tuple(days), tuple(values))
            for pair, (days, values) in sorted(self._pairs.items())
        )

    def _direct(self, currency: str, quote: str, day: date) -> Decimal | None:
        found = self._pairs.get((currency, quote))
        if found is None:
            return None
        days, values = found
        i = bisect.bisect_right(days, day)
        return values[i - 1] if i else None

    def rate(self, currency: str, quote: str, day: date) -> Decimal | None:
        if currency == quote:
            return Decimal(1)
        direct = self._direct(currency, quote, day)
        if direct is not None:
            return direct
        inverse = self._direct(quote, currency, day)
        return None if inverse is None else Decimal(1) / inverse


@dataclass(frozen=True)
class Converter:
    """Converts minor units of any currency into `target` with the rate of a day."""

    target: str
    table: RateTable
    today: date

    @property
    def key(self) -> tuple[object, ...]:
        """What its conversions depend on, hashable (a report's cache key names it)."""
        return (self.target, self.table.key, self.today)

    def convert(self, minor: int, currency: str | None, day: date | None = None) -> int | None:
        """None when no rate is known on or before `day` (default: today)."""
        if currency is None:
            return None
        if currency == self.target:
            return minor
        rate = self.table.rate(currency, self.target, day or self.today)
        if rate is None:
            return None
        scale = Decimal(10) ** (exponent(self.target) - exponent(currency))
        value = (Decimal(minor) * rate * scale).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
        return int(value)

    def convert_on(self, minor: int, currency: str | None, iso_day: str | None) -> int | None:
        """As `convert` with a `YYYY-MM-DD` day (a won deal's close date); today if None."""
        day = date.fromisoformat(iso_day[:10]) if iso_day else None
        return self.convert(minor, currency, day)


def same_currency(target: str, today: date) -> Converter:
    """A converter that knows no rates: only `target` amounts count."""
    return Converter(target, RateTable(), today)

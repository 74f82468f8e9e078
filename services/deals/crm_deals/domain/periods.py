"""Forecast periods and the revenue range of a period (pure; numpy only inside `simulate`).

A period is a calendar month `YYYY-MM` or quarter `YYYY-Qn`, the range `[start, end)`.

**Range.** The period's revenue is what is already won in it plus each open deal expected
to close in it, won with its probability (independently of the others). `simulate` draws
that many times with a seeded generator (the same question gives the same answer) and
reports the 10th, 50th and 90th percentiles beside the expected (weighted) value. It
assumes the expected close dates are right and the deals independent: the range shows
the uncertainty of the outcomes, not of the timing.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from crm_kit.errors import BadUserInput

from .forecast import months_in

DRAWS = 2000
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


@dataclass(frozen=True)
class Period:
    key: str
    start: date
    end: date

    @property
    def months(self) -> list[str]:
        return months_in(self.start, self.end)

    @property
    def monthly(self) -> bool:
        return len(self.months) == 1


def _next(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1)


# "2026-03", "2026-Q1": longer input is no period (and is not echoed back).
MAX_PERIOD = 16


def parse_period(text: str, field: str = "period") -> Period:
    if len(text or "") > MAX_PERIOD:
        raise BadUserInput(
            f"period must be a month YYYY-MM or a quarter YYYY-Qn (at most {MAX_PERIOD} "
            "characters)",
            field=field,
        )
    raw = (text or "").strip().upper()
    if match := _MONTH.match(raw):
        year, month = int(match.group(1)), int(match.group(2))
        return Period(raw, date(year, month, 1), _next(year, month))
    if match := _QUARTER.match(raw):
        year, quarter = int(match.group(1)), int(match.group(2))
        first = 3 * (quarter - 1) + 1
        return Period(raw, date(year, first, 1), _next(year, first + 2))
    raise BadUserInput(
        f"period must be a month YYYY-MM or a quarter YYYY-Qn, got {text!r}", field=field
    )


def month_period(month: str) -> Period:
    return parse_period(month)


@dataclass(frozen=True)
class Range:
    p10: int
    p50: int
    p90: int
    draws: int


def seed_of(*parts: str) -> int:
    return zlib.crc32("|".join(parts).encode())


def simulate(
    fixed_minor: int, deals: Sequence[tuple[int, float]], seed: int, draws: int = DRAWS
) -> Range:
    """`deals` = (amount in minor units, probability 0-1) of each open deal."""
    if not deals:
        return Range(fixed_minor, fixed_minor, fixed_minor, 0)
    import numpy as np

    rng = np.random.default_rng(seed)
    amounts = np.asarray([a for a, _ in deals], dtype=np.float64)
    chances = np.asarray([p for _, p in deals], dtype=np.float64)
    totals = np.empty(draws, dtype=np.float64)
    chunk = max(1, 2_000_000 // len(deals))  # bounded memory: draws x deals per chunk
    for start in range(0, draws, chunk):
        size = min(chunk, draws - start)
        won = rng.random((size, len(deals))) < chances
        totals[start : start + size] = won @ amounts
    p10, p50, p90 = (int(np.rint(q)) for q in np.percentile(totals, [10, 50, 90]))
    return Range(
        fixed_minor + p10,
        fixed_minor + p50,
        fixed_minor + p90,
        draws,
    )

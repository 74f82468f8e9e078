"""Funnel conversion, stage velocity and owner scorecards, derived from the deals' stage
histories (the stages entered, in order, with the time of each entry).

Pure, over `HistoryFacts` (what the read index keeps per deal). Times are epoch seconds;
a window is [start, end) with None for unbounded.

Definitions (README "Analytics"):
- A deal *entered* stage S in the window if one of its history entries into S is in the
  window. A deal counts once per stage: its latest entry into S within the window decides
  the outcome, by where the deal went when it left S that time: a later stage or won
  (`advanced`), lost (`lost`), an earlier stage or one no longer in the pipeline
  (`movedBack`), or nowhere yet (`stillThere`). entered = advanced + lost + movedBack +
  stillThere.
- Time in stage: every stay in S that began in the window and has ended (from the entry
  into S to the next entry, which is `secondsInFromStage` of that next entry).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from .forecast import AmountFacts
from .pipeline import LOST, WON, Pipeline
from .rates import Converter

DAY = 86400.0


class HistoryFacts(AmountFacts, Protocol):
    close_date: str | None
    stale_at: datetime | None
    created: int | None
    has_next_step: bool
    entered: tuple[str, ...]

    @property
    def entered_at(self) -> Sequence[int]: ...


Window = tuple[int | None, int | None]


def inside(at: int | None, window: Window) -> bool:
    if at is None:
        return False
    start, end = window
    return (start is None or at >= start) and (end is None or at < end)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def round_half_even_div(total: int, count: int) -> int:
    quotient, remainder = divmod(total, count)
    if remainder * 2 > count or (remainder * 2 == count and quotient % 2 == 1):
        quotient += 1
    return quotient


def closed_at(deal: HistoryFacts) -> int | None:
    """When a won or lost deal was closed: its last history entry into that outcome."""
    if deal.status not in (WON, LOST):
        return None
    for stage, at in zip(reversed(deal.entered), reversed(deal.entered_at), strict=True):
        if stage == deal.status:
            return at
    return None


@dataclass
class StageFlow:
    key: str
    name: str
    entered: int = 0
    advanced: int = 0
    lost: int = 0
    moved_back: int = 0
    still_there: int = 0
    won: int = 0  # of the deals that entered: won now
    stay_seconds: list[int] = field(default_factory=list)

    @property
    def conversion(self) -> float | None:
        return self.advanced / self.entered if self.entered else None

    @property
    def win_rate(self) -> float | None:
        return self.won / self.entered if self.entered else None

    def days(self, q: float) -> float | None:
        value = percentile(self.stay_seconds, q)
        return None if value is None else value / DAY


@dataclass
class Outcomes:
    """Deals won / lost in a window, their cycle times and won amounts (one currency)."""

    currency: str
    won: int = 0
    lost: int = 0
    won_minor: int = 0
    won_in_currency: int = 0
    other_currencies: dict[str, int] = field(default_factory=dict)
    cycle_seconds: list[int] = field(default_factory=list)
    # Converts other currencies at each deal's won date (none: only `currency` counts).
    converter: Converter | None = None

    def add(self, deal: HistoryFacts, window: Window) -> None:
        at = closed_at(deal)
        if not inside(at, window):
            return
        if deal.status == LOST:
            self.lost += 1
            return
        self.won += 1
        if deal.created is not None and at is not None:
            self.cycle_seconds.append(max(0, at - deal.created))
        amount = _converted(self.converter, self.currency, deal, deal.close_date)
        if amount is not None:
            self.won_in_currency += 1
            self.won_minor += amount
        else:
            key = deal.currency or "?"
            self.other_currencies[key] = self.other_currencies.get(key, 0) + 1

    @property
    def win_rate(self) -> float | None:
        closed = self.won + self.lost
        return self.won / closed if closed else None

    @property
    def average_won_minor(self) -> int | None:
        if not self.won_in_currency:
            return None
        return round_half_even_div(self.won_minor, self.won_in_currency)

    @property
    def median_cycle_days(self) -> float | None:
        value = percentile(self.cycle_seconds, 0.5)
        return None if value is None else value / DAY


@dataclass
class Funnel:
    stages: list[StageFlow]
    created: int
    outcomes: Outcomes


def _converted(
    converter: Converter | None,
    currency: str,
    deal: HistoryFacts,
    day: str | None,
    minor: int | None = None,
) -> int | None:
    """The deal's amount (or `minor`) in `currency`: converted with the rate of `day`
    (today when None) when a converter is given, else only if already in `currency`."""
    value = deal.amount_minor if minor is None else minor
    if deal.currency == currency:
        return value or 0
    if converter is None:
        return None
    return converter.convert_on(value or 0, deal.currency, day)


def funnel(
    deals: Iterable[HistoryFacts],
    pipeline: Pipeline,
    window: Window,
    currency: str,
    owner_id: str | None = None,
    converter: Converter | None = None,
) -> Funnel:
    flows = {s.key: StageFlow(s.key, s.name) for s in pipeline.open_stages}
    order = {s.key: i for i, s in enumerate(pipeline.stages)}
    created = 0
    outcomes = Outcomes(currency, converter=converter)
    for deal in deals:
        if deal.pipeline_id != pipeline.id or (owner_id is not None and deal.owner_id != owner_id):
            continue
        if inside(deal.created, window):
            created += 1
        outcomes.add(deal, window)
        stages, times = deal.entered, deal.entered_at
        latest: dict[str, int] = {}
        for i, stage in enumerate(stages):
            flow = flows.get(stage)
            if flow is None or not inside(times[i], window):
                continue
            latest[stage] = i
            if i + 1 < len(stages):
                flow.stay_seconds.append(max(0, times[i + 1] - times[i]))
        for stage, i in latest.items():
            flow = flows[stage]
            flow.entered += 1
            if deal.status == WON:
                flow.won += 1
            nxt = stages[i + 1] if i + 1 < len(stages) else None
            if nxt is None:
                flow.still_there += 1
            elif nxt == LOST:
                flow.lost += 1
            elif nxt == WON or order.get(nxt, -1) > order[stage]:
                flow.advanced += 1
            else:
                flow.moved_back += 1
    return Funnel(list(flows.values()), created, outcomes)


@dataclass
class Scorecard:
    owner_id: str | None
    currency: str
    open_count: int = 0
    open_minor: int = 0
    open_weighted_minor: int = 0
    stale: int = 0
    no_next_step: int = 0
    open_other_currencies: dict[str, int] = field(default_factory=dict)
    converter: Converter | None = None
    outcomes: Outcomes = field(init=False)

    def __post_init__(self) -> None:
        self.outcomes = Outcomes(self.currency, converter=self.converter)


def scorecards(
    deals: Iterable[HistoryFacts],
    pipeline_id: str,
    window: Window,
    currency: str,
    now: datetime,
    converter: Converter | None = None,
) -> list[Scorecard]:
    """Per owner (None = unassigned): open deals now, deals closed in the window. Owners
    with neither are left out. Largest won amount first, then owner id."""
    cards: dict[str | None, Scorecard] = {}
    for deal in deals:
        if deal.pipeline_id != pipeline_id:
            continue
        if deal.status == "open":
            card = cards.get(deal.owner_id) or cards.setdefault(
                deal.owner_id, Scorecard(deal.owner_id, currency, converter=converter)
            )
            card.open_count += 1
            # Open deals at today's rate.
            amount = _converted(converter, currency, deal, None)
            weighted = _converted(converter, currency, deal, None, deal.weighted_minor or 0)
            if amount is not None and weighted is not None:
                card.open_minor += amount
                card.open_weighted_minor += weighted
            else:
                key = deal.currency or "?"
                card.open_other_currencies[key] = card.open_other_currencies.get(key, 0) + 1
            if deal.stale_at is not None and deal.stale_at <= now:
                card.stale += 1
            if not deal.has_next_step:
                card.no_next_step += 1
        elif inside(closed_at(deal), window):
            card = cards.get(deal.owner_id) or cards.setdefault(
                deal.owner_id, Scorecard(deal.owner_id, currency, converter=converter)
            )
            card.outcomes.add(deal, window)
    return sorted(cards.values(), key=lambda c: (-c.outcomes.won_minor, c.owner_id or "~"))

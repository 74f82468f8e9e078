"""The forecast, the funnel and the owner scorecards of a set of deals as the sum of the
same report over disjoint parts of it, so that a kept report needs only the part a written
deal belongs to computed again (`store.index_data.WorkspaceDeals.report`), not every deal.

The reports add up per deal: counts and amounts are sums, the lists of durations (stays
in a stage, sales cycles) are multisets whose percentiles are taken after sorting, and a
scorecard is per owner. So `merge_*(report(part) for part in parts)` answers what
`report(all deals)` does; only the order of the duration lists (never shown: the
percentiles sort them) may differ. The merged report is new: the parts are kept,
unchanged, for the next merge.
"""

from __future__ import annotations

from collections.abc import Sequence

from .forecast import Forecast, ForecastMonth
from .funnel import Funnel, Outcomes, Scorecard, StageFlow


def _add_counts(into: dict[str, int], counts: dict[str, int]) -> None:
    for key, n in counts.items():
        into[key] = into.get(key, 0) + n


def _add_month(into: ForecastMonth, month: ForecastMonth) -> None:
    for category, bucket in month.categories.items():
        total = into.categories[category]
        total.count += bucket.count
        total.amount_minor += bucket.amount_minor
        total.weighted_minor += bucket.weighted_minor
    _add_counts(into.other_currencies, month.other_currencies)


def merge_forecasts(parts: Sequence[Forecast]) -> Forecast:
    """The forecast of the parts' deals together (every part of one request: the same
    months and currency)."""
    first = parts[0]
    months = [ForecastMonth(m.month) for m in first.months]
    undated = ForecastMonth(None)
    for part in parts:
        for into, month in zip(months, part.months, strict=True):
            _add_month(into, month)
        _add_month(undated, part.undated)
    return Forecast(first.currency, months, undated)


def _add_outcomes(into: Outcomes, outcomes: Outcomes) -> None:
    into.won += outcomes.won
    into.lost += outcomes.lost
    into.won_minor += outcomes.won_minor
    into.won_in_currency += outcomes.won_in_currency
    _add_counts(into.other_currencies, outcomes.other_currencies)
    into.cycle_seconds.extend(outcomes.cycle_seconds)


def merge_funnels(parts: Sequence[Funnel]) -> Funnel:
    """The funnel of the parts' deals together (every part of one request: the same
    pipeline version, window, currency and converter)."""
    first = parts[0]
    stages = [StageFlow(s.key, s.name) for s in first.stages]
    outcomes = Outcomes(first.outcomes.currency, converter=first.outcomes.converter)
    created = 0
    for part in parts:
        created += part.created
        for into, flow in zip(stages, part.stages, strict=True):
            into.entered += flow.entered
            into.advanced += flow.advanced
            into.lost += flow.lost
            into.moved_back += flow.moved_back
            into.still_there += flow.still_there
            into.won += flow.won
            into.stay_seconds.extend(flow.stay_seconds)
        _add_outcomes(outcomes, part.outcomes)
    return Funnel(stages, created, outcomes)


def merge_scorecards(parts: Sequence[Sequence[Scorecard]]) -> list[Scorecard]:
    """The owner scorecards of the parts' deals together (every part of one request, at
    one time): an owner's card is the sum of theirs in each part, in the order
    `funnel.scorecards` gives (largest won amount first, then owner id)."""
    cards: dict[str | None, Scorecard] = {}
    for part in parts:
        for card in part:
            into = cards.get(card.owner_id)
            if into is None:
                into = cards[card.owner_id] = Scorecard(
                    card.owner_id, card.currency, converter=card.converter
                )
            into.open_count += card.open_count
            into.open_minor += card.open_minor
            into.open_weighted_minor += card.open_weighted_minor
            into.stale += card.stale
            into.no_next_step += card.no_next_step
            _add_counts(into.open_other_currencies, card.open_other_currencies)
            _add_outcomes(into.outcomes, card.outcomes)
    return sorted(cards.values(), key=lambda c: (-c.outcomes.won_minor, c.owner_id or "~"))

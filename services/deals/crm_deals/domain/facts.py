"""What the reports (forecast, funnel, scorecards, roll-ups, the board's closed columns)
read of each deal of a pipeline: the store answers with objects of this shape (the read
index's entries, or the same built from the deals), so the reports never see either."""

from __future__ import annotations

from typing import Protocol

from .forecast import DealFacts
from .funnel import HistoryFacts


class ReportedDeal(DealFacts, HistoryFacts, Protocol):
    @property
    def id(self) -> str: ...

    stage_key: str | None
    probability: int | None
    model_probability: int | None
    stage_probability: int | None

"""Scores of probabilistic predictions against outcomes (pure).

- Brier score: mean squared error of the probability (0 perfect; 0.25 for a coin flip).
- Log loss: mean negative log-likelihood, predictions clipped to [0.001, 0.999].
- AUC: the chance that a random won row is ranked above a random not-won row (ties count
  half); None with a single outcome class. A constant prediction has AUC 0.5.
- Reliability table: rows grouped by predicted tenth (0-0.1, ..., 0.9-1.0), each with the
  mean prediction and the share that was won; ECE (expected calibration error) = the
  row-weighted mean of |mean predicted - won share| over the groups.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

LOG_EPSILON = 1e-3
BINS = 10

Pair = tuple[float, int]  # (predicted probability, outcome 0/1)


def brier(pairs: Sequence[Pair]) -> float:
    return sum((p - y) ** 2 for p, y in pairs) / len(pairs)


def log_loss(pairs: Sequence[Pair]) -> float:
    total = 0.0
    for p, y in pairs:
        p = min(max(p, LOG_EPSILON), 1 - LOG_EPSILON)
        total -= math.log(p) if y else math.log(1 - p)
    return total / len(pairs)


def auc(pairs: Sequence[Pair]) -> float | None:
    positives = sum(y for _, y in pairs)
    negatives = len(pairs) - positives
    if positives == 0 or negatives == 0:
        return None
    ordered = sorted(pairs, key=lambda pair: pair[0])
    rank_sum = 0.0
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1][0] == ordered[i][0]:
            j += 1
        mid_rank = (i + j) / 2 + 1  # ties share the mean rank
        rank_sum += mid_rank * sum(y for _, y in ordered[i : j + 1])
        i = j + 1
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


@dataclass(frozen=True)
class ReliabilityBin:
    lower: float
    upper: float
    count: int
    mean_predicted: float
    won_share: float

    def to_doc(self) -> dict[str, Any]:
        return vars(self).copy()


def reliability(pairs: Sequence[Pair], bins: int = BINS) -> tuple[ReliabilityBin, ...]:
    grouped: dict[int, list[Pair]] = {}
    for p, y in pairs:
        grouped.setdefault(min(int(p * bins), bins - 1), []).append((p, y))
    return tuple(
        ReliabilityBin(
            lower=i / bins,
            upper=(i + 1) / bins,
            count=len(members),
            mean_predicted=round(sum(p for p, _ in members) / len(members), 6),
            won_share=round(sum(y for _, y in members) / len(members), 6),
        )
        for i, members in sorted(grouped.items())
    )


def ece(table: Sequence[ReliabilityBin]) -> float:
    total = sum(b.count for b in table)
    if not total:
        return 0.0
    return sum(b.count * abs(b.mean_predicted - b.won_share) for b in table) / total


@dataclass(frozen=True)
class Scores:
    """One predictor's scores over a set of rows."""

    rows: int
    brier: float
    log_loss: float
    auc: float | None
    ece: float
    reliability: tuple[ReliabilityBin, ...]

    def to_doc(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "brier": self.brier,
            "log_loss": self.log_loss,
            "auc": self.auc,
            "ece": self.ece,
            "reliability": [b.to_doc() for b in self.reliability],
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Scores:
        return cls(
            rows=int(doc["rows"]),
            brier=float(doc["brier"]),
            log_loss=float(doc["log_loss"]),
            auc=None if doc.get("auc") is None else float(doc["auc"]),
            ece=float(doc["ece"]),
            reliability=tuple(ReliabilityBin(**b) for b in doc.get("reliability") or []),
        )


def scores(pairs: Sequence[Pair]) -> Scores:
    table = reliability(pairs)
    found = auc(pairs)
    return Scores(
        rows=len(pairs),
        brier=round(brier(pairs), 6),
        log_loss=round(log_loss(pairs), 6),
        auc=None if found is None else round(found, 6),
        ece=round(ece(table), 6),
        reliability=table,
    )

"""Feature encoding and scoring of the win model (pure: no numpy, no scikit-learn).

The fitted model is stored as plain numbers (`Column`s with their weights, the intercept
and the calibration), so predicting is a dot product done here: the service answers
from the stored model without importing the training libraries, and a model document is
readable and portable (no pickles).

Encoding: a categorical feature becomes one 0/1 column per frequent level (at least
`MIN_LEVEL_ROWS` training rows, the `MAX_LEVELS` most frequent; rarer levels share an
`(other)` column, missing values a `(none)` column); a numeric feature is standardised
with the training mean and spread and clamped to the training range (a deal older than
any seen is scored as the oldest seen, not extrapolated), with a `(missing)` indicator
when some rows lack it. A feature with a single level, or a constant, carries no
information and gets no column.

Contributions: every column is centred on its training mean, so a deal's calibrated
log-odds = `base` + sum of its features' contributions, each contribution the sum of
`slope x weight x (x - mean)` over the feature's columns. The base is the log-odds of a
deal at the training average; a positive contribution raises the probability.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .win_features import Value

MIN_LEVEL_ROWS = 5
MAX_LEVELS = 40
OTHER = "(other)"
NONE = "(none)"
MISSING = "(missing)"
# Never 0 % or 100 %: no history justifies certainty about an open deal.
P_MIN, P_MAX = 0.01, 0.99


@dataclass(frozen=True)
class Column:
    feature: str
    level: str | None  # categorical level, MISSING for a numeric's indicator, None: numeric
    mean: float  # training mean of the encoded column (centring)
    scale: float = 1.0  # numeric: training standard deviation
    low: float = 0.0  # numeric: training range (clamp)
    high: float = 0.0
    weight: float = 0.0

    def to_doc(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "level": self.level,
            "mean": self.mean,
            "scale": self.scale,
            "low": self.low,
            "high": self.high,
            "weight": self.weight,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Column:
        return cls(
            feature=doc["feature"],
            level=doc.get("level"),
            mean=float(doc["mean"]),
            scale=float(doc.get("scale") or 1.0),
            low=float(doc.get("low") or 0.0),
            high=float(doc.get("high") or 0.0),
            weight=float(doc.get("weight") or 0.0),
        )


def _categorical(value: Value, levels: frozenset[str]) -> str:
    if value is None:
        return NONE
    text = str(value)
    return text if text in levels else OTHER


def fit_columns(rows: Sequence[Mapping[str, Value]]) -> list[Column]:
    """The columns (without weights) that encode these training rows."""
    kinds: dict[str, str] = {}
    for row in rows:
        for name, value in row.items():
            if value is None:
                kinds.setdefault(name, "")
            elif isinstance(value, str):
                kinds[name] = "cat"
            elif kinds.get(name) != "cat":
                kinds[name] = "num"
    columns: list[Column] = []
    n = len(rows)
    for name in sorted(kinds):
        values = [row.get(name) for row in rows]
        if kinds[name] == "cat":
            counts = Counter(NONE if v is None else str(v) for v in values)
            frequent = [lvl for lvl, c in counts.most_common(MAX_LEVELS) if c >= MIN_LEVEL_ROWS]
            keep = frozenset(frequent)
            encoded = Counter(_categorical(v, keep) for v in values)
            if len(encoded) < 2:
                continue
            for level in sorted(encoded):
                columns.append(Column(name, level, mean=encoded[level] / n))
        elif kinds[name] == "num":
            present = [float(v) for v in values if v is not None and not isinstance(v, str)]
            if not present:
                continue
            mean = sum(present) / len(present)
            spread = math.sqrt(sum((v - mean) ** 2 for v in present) / len(present))
            if spread < 1e-9:
                continue
            low, high = min(present), max(present)
            # `mean` is the raw mean: encoded values are (x - mean) / scale, and missing
            # values are imputed with 0 (the mean), so the encoded training mean is 0.
            columns.append(Column(name, None, mean=mean, scale=spread, low=low, high=high))
            if len(present) < n:
                columns.append(Column(name, MISSING, mean=(n - len(present)) / n))
    return columns


class Encoder:
    """`encode` for many rows with the level sets computed once."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self.columns = list(columns)
        levels: dict[str, set[str]] = {}
        for column in self.columns:
            if column.level is not None and column.level != MISSING:
                levels.setdefault(column.feature, set()).add(column.level)
        self.levels = {k: frozenset(v) for k, v in levels.items()}

    def __call__(self, row: Mapping[str, Value]) -> list[float]:
        out: list[float] = []
        for column in self.columns:
            value = row.get(column.feature)
            if column.level is None:
                if value is None or isinstance(value, str):
                    out.append(0.0)
                else:
                    clamped = min(max(float(value), column.low), column.high)
                    out.append((clamped - column.mean) / column.scale)
            elif column.level == MISSING:
                missing = value is None or isinstance(value, str)
                out.append((1.0 if missing else 0.0) - column.mean)
            else:
                hit = _categorical(value, self.levels[column.feature]) == column.level
                out.append((1.0 if hit else 0.0) - column.mean)
        return out


@dataclass(frozen=True)
class Calibration:
    """Platt scaling of the raw log-odds z: calibrated log-odds = slope x z + shift,
    fitted on time-later rows the model did not see. An affine map keeps contributions
    additive (each scaled by the slope)."""

    slope: float = 1.0
    shift: float = 0.0


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def clip(p: float) -> float:
    return min(max(p, P_MIN), P_MAX)


@dataclass(frozen=True)
class Contribution:
    feature: str
    value: Value  # the raw feature value (categorical level or number, None: missing)
    log_odds: float  # signed, calibrated log-odds


@dataclass(frozen=True)
class Scored:
    probability: float  # calibrated, clipped to [P_MIN, P_MAX]
    base_log_odds: float
    contributions: tuple[Contribution, ...]  # every feature, largest |log_odds| first


def score(
    row: Mapping[str, Value],
    columns: Sequence[Column],
    intercept: float,
    calibration: Calibration,
    encoder: Encoder | None = None,
) -> Scored:
    vector = (encoder or Encoder(columns))(row)
    by_feature: dict[str, float] = {}
    for column, x in zip(columns, vector, strict=True):
        by_feature[column.feature] = by_feature.get(column.feature, 0.0) + column.weight * x
    base = calibration.slope * intercept + calibration.shift
    contributions = tuple(
        sorted(
            (
                Contribution(name, row.get(name), calibration.slope * raw)
                for name, raw in by_feature.items()
            ),
            key=lambda c: (-abs(c.log_odds), c.feature),
        )
    )
    z = base + sum(c.log_odds for c in contributions)
    return Scored(clip(sigmoid(z)), base, contributions)


def importances(
    vectors: Iterable[Sequence[float]], columns: Sequence[Column], slope: float
) -> dict[str, float]:
    """Mean absolute contribution (calibrated log-odds) of each feature over the rows."""
    totals: dict[str, float] = {}
    n = 0
    for vector in vectors:
        n += 1
        per: dict[str, float] = {}
        for column, x in zip(columns, vector, strict=True):
            per[column.feature] = per.get(column.feature, 0.0) + column.weight * x
        for name, value in per.items():
            totals[name] = totals.get(name, 0.0) + abs(slope * value)
    return {name: total / n for name, total in totals.items()} if n else {}

"""Fitting the win model's estimator: scikit-learn's L2-regularised logistic regression,
with Platt (sigmoid) calibration fitted on time-later rows.

Why logistic regression (README, "Win probability model"): a sales pipeline gives
hundreds to a few thousand closed deals, mostly categorical attributes; a linear model on
one-hot levels is the well-understood choice there (on the public B2B set the issue cites,
it reached Brier 0.164 / AUC 0.84), it is calibrated by construction up to drift, and its
log-odds split exactly into per-feature contributions, so every deal's probability can be
explained without an approximation (gradient boosting would need SHAP on top).

scikit-learn and numpy are imported inside `fit`, never at service start: predictions
are dot products over the stored numbers (`win_encoding.score`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .win_encoding import Calibration

# Candidate inverse regularisation strengths, picked by time-ordered validation log loss.
C_GRID = (0.03, 0.1, 0.3, 1.0)
VALIDATION_SHARE = 0.25
MIN_VALIDATION_ROWS = 30
# Platt slopes outside this range mean the validation rows are too few or too different
# to trust; the calibration is then left out (identity).
SLOPE_RANGE = (0.2, 3.0)


@dataclass(frozen=True)
class Fitted:
    weights: tuple[float, ...]
    intercept: float
    c: float
    calibration: Calibration
    library: str


def _log_loss(z: Sequence[float], y: Sequence[int]) -> float:
    total = 0.0
    for zi, yi in zip(z, y, strict=True):
        p = 1 / (1 + math.exp(-max(min(zi, 30.0), -30.0)))
        p = min(max(p, 1e-3), 1 - 1e-3)
        total -= math.log(p) if yi else math.log(1 - p)
    return total / len(y)


def fit(
    vectors: Sequence[Sequence[float]], labels: Sequence[int], times: Sequence[float]
) -> Fitted:
    """`vectors` encoded and centred rows, `labels` 0/1, `times` each row's snapshot time
    (the last VALIDATION_SHARE of the time order validates C and fits the calibration)."""
    from threadpoolctl import threadpool_limits

    # One BLAS thread: training shares the machine with the service's requests.
    with threadpool_limits(limits=1):
        return _fit(vectors, labels, times)


def _fit(
    vectors: Sequence[Sequence[float]], labels: Sequence[int], times: Sequence[float]
) -> Fitted:
    import numpy as np
    import sklearn
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(vectors, dtype=float)
    y = np.asarray(labels, dtype=int)
    order = np.argsort(np.asarray(times, dtype=float), kind="stable")
    cut = int(len(order) * (1 - VALIDATION_SHARE))
    train, valid = order[:cut], order[cut:]
    usable = (
        len(valid) >= MIN_VALIDATION_ROWS
        and len(set(y[train].tolist())) == 2
        and len(set(y[valid].tolist())) == 2
    )
    best_c, calibration = 0.1, Calibration()
    if usable:
        best_loss = math.inf
        best_z: list[float] = []
        for c in C_GRID:
            model = LogisticRegression(C=c, max_iter=2000).fit(x[train], y[train])
            z = model.decision_function(x[valid]).tolist()
            loss = _log_loss(z, y[valid].tolist())
            if loss < best_loss:
                best_c, best_loss, best_z = c, loss, z
        platt = LogisticRegression(C=1e6, max_iter=2000).fit(
            np.asarray(best_z).reshape(-1, 1), y[valid]
        )
        slope, shift = float(platt.coef_[0][0]), float(platt.intercept_[0])
        if SLOPE_RANGE[0] <= slope <= SLOPE_RANGE[1]:
            calibration = Calibration(round(slope, 6), round(shift, 6))
    final = LogisticRegression(C=best_c, max_iter=2000).fit(x, y)
    return Fitted(
        weights=tuple(round(float(w), 8) for w in final.coef_[0]),
        intercept=round(float(final.intercept_[0]), 8),
        c=best_c,
        calibration=calibration,
        library=f"scikit-learn {sklearn.__version__}",
    )

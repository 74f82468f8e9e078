"""The win model's maths on small hand-checkable histories: time in stage, smoothing
toward the stage defaults, age buckets, and the backtest's scores."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from crm_deals.domain.deal import StageChange
from crm_deals.domain.default_pipeline import default_pipeline
from crm_deals.domain.win_model import (
    DealRecord,
    WinModel,
    backtest,
    percent,
    stage_days,
    train,
    train_stage,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
PIPELINE = default_pipeline("w1", T0)


def change(src: str | None, dst: str, day: float) -> StageChange:
    return StageChange(
        id=f"{dst}-{day}",
        from_stage=src,
        to_stage=dst,
        at=T0 + timedelta(days=day),
        by="t",
        seconds_in_from_stage=None,
        pipeline_id=PIPELINE.id,
        pipeline_version=1,
    )


def closed(deal_id: str, won: bool, days: dict[str, float], closed_day: float = 100) -> DealRecord:
    return DealRecord(
        id=deal_id,
        status="won" if won else "lost",
        stage_key="won" if won else "lost",
        stage_probability=100 if won else 0,
        closed_at=T0 + timedelta(days=closed_day),
        stage_days=days,
    )


def test_stage_days_sums_visits_and_counts_an_open_stage_until_now() -> None:
    history = [
        change(None, "prospecting", 0),
        change("prospecting", "engaging", 2),
        change("engaging", "prospecting", 5),  # back
        change("prospecting", "engaging", 6.5),
        change("engaging", "won", 10),
    ]
    assert stage_days(history) == {"prospecting": 3.5, "engaging": 6.5}
    open_history = history[:4]
    now = T0 + timedelta(days=8)
    assert stage_days(open_history, now) == {"prospecting": 3.5, "engaging": 4.5}
    # Without `now` an open last stage is known to have been visited, for 0 days.
    assert stage_days(open_history) == {"prospecting": 3.5, "engaging": 3.0}
    # A reopened deal: the time it spent won counts nowhere.
    reopened = [*history, change("won", "proposal", 30)]
    assert stage_days(reopened, T0 + timedelta(days=31)) == {
        "prospecting": 3.5,
        "engaging": 6.5,
        "proposal": 1.0,
    }


def test_few_samples_stay_near_the_default_and_unseen_stages_keep_it() -> None:
    deals = [
        closed("a", True, {"engaging": 3}),
        closed("b", True, {"engaging": 4}),
        closed("c", False, {"engaging": 5}),
        DealRecord("open", "open", "engaging", 40, None, {"engaging": 1}),  # ignored
    ]
    model = train(PIPELINE, deals, T0)
    engaging = model.stage("engaging")
    assert engaging is not None
    # (2 wins + 10 x 0.40) / (3 + 10) = 6 / 13
    assert engaging.samples == 3 and engaging.wins == 2
    assert engaging.win_rate == pytest.approx(6 / 13, abs=1e-6)
    assert model.estimate("engaging", 40, 0) == 46  # not the raw 67 %
    prospecting = model.stage("prospecting")
    assert prospecting is not None and prospecting.samples == 0
    assert prospecting.win_rate == pytest.approx(0.10)
    assert model.estimate("prospecting", 10, 0) == 10
    assert model.training_deals == 3
    # A stage added after training: no samples, its own default.
    assert model.estimate("security_review", 55, 3) == 55


def test_many_samples_follow_the_data() -> None:
    deals = [closed(f"d{i}", i < 180, {"proposal": 1}) for i in range(200)]
    model = train(PIPELINE, deals, T0, buckets=1)
    proposal = model.stage("proposal")
    assert proposal is not None
    # (180 + 10 x 0.60) / 210 = 0.8857..., far from the 60 % default.
    assert proposal.win_rate == pytest.approx(186 / 210, abs=1e-6)
    assert model.estimate("proposal", 60, 0) == 89


def test_age_buckets_use_deals_still_in_the_stage_smoothed_toward_the_stage_rate() -> None:
    outcomes = [(1.0, False), (2.0, False), (10.0, True), (20.0, True)]
    stage = train_stage("engaging", "Engaging", 40, outcomes, buckets=2, min_bucket_samples=2)
    stage_rate = (2 + 10 * 0.4) / (4 + 10)  # 0.428571
    assert stage.win_rate == pytest.approx(stage_rate, abs=1e-6)
    # Median of [1, 2, 10, 20] is the 3rd value: buckets start at 0 and 10 days.
    assert [(b.min_days, b.max_days) for b in stage.age_buckets] == [(0, 10), (10, None)]
    first, second = stage.age_buckets
    assert (first.samples, first.wins) == (4, 2)
    assert first.win_rate == pytest.approx(stage_rate, abs=1e-6)
    assert (second.samples, second.wins) == (2, 2)
    assert second.win_rate == pytest.approx((2 + 10 * stage_rate) / 12, abs=1e-6)  # 0.52381
    assert percent(stage.rate_at(5)) == 43
    assert percent(stage.rate_at(12)) == 52
    # Too few closed deals for buckets: one bucket, the stage rate.
    small = train_stage("engaging", "Engaging", 40, outcomes, buckets=2, min_bucket_samples=3)
    assert [(b.min_days, b.max_days) for b in small.age_buckets] == [(0, None)]


def test_an_open_deal_is_estimated_from_its_stage_and_age() -> None:
    deals = [closed(f"l{i}", False, {"engaging": 1}) for i in range(20)]
    deals += [closed(f"w{i}", True, {"engaging": 30}) for i in range(20)]
    model = train(PIPELINE, deals, T0, buckets=2, min_bucket_samples=20)
    young = DealRecord("y", "open", "engaging", 40, None, {"engaging": 0.5})
    old = DealRecord("o", "open", "engaging", 40, None, {"engaging": 40.0})
    # Stage: (20 + 4) / 50 = 0.48. Still there after 30 days: 20/20 won,
    # (20 + 10 x 0.48) / 30 = 0.8267.
    assert model.estimate_deal(young) == 48
    assert model.estimate_deal(old) == 83


def test_backtest_scores_match_hand_computed_brier_and_log_loss() -> None:
    # Training part: the 8 earliest-closed deals, 6 won -> (6 + 4) / 18 = 0.5556 -> 56 %.
    deals = [closed(f"t{i}", i < 6, {"engaging": 2}, closed_day=i) for i in range(8)]
    # Test part: the 2 latest, one won and one lost.
    deals += [
        closed("x-won", True, {"engaging": 2}, closed_day=50),
        closed("x-lost", False, {"engaging": 2}, closed_day=60),
    ]
    accuracy = backtest(PIPELINE, deals, buckets=1)
    assert accuracy is not None
    assert accuracy.test_deals == 2 and accuracy.predictions == 2
    assert accuracy.cutoff == T0 + timedelta(days=7)
    assert accuracy.brier_score == pytest.approx(((0.56 - 1) ** 2 + 0.56**2) / 2, abs=1e-6)
    assert accuracy.baseline_brier_score == pytest.approx((0.6**2 + 0.4**2) / 2, abs=1e-6)
    assert accuracy.stage_only_brier_score == accuracy.brier_score
    assert accuracy.log_loss == pytest.approx(-(math.log(0.56) + math.log(0.44)) / 2, abs=1e-6)
    assert accuracy.baseline_log_loss == pytest.approx(
        -(math.log(0.4) + math.log(0.6)) / 2, abs=1e-6
    )
    [bucket] = accuracy.calibration
    assert (bucket.lower, bucket.upper, bucket.count) == (0.5, 0.6, 2)
    assert bucket.mean_predicted == pytest.approx(0.56)
    assert bucket.actual_win_share == 0.5


def test_backtest_predicts_each_age_bucket_a_test_deal_reached() -> None:
    deals = [closed(f"l{i}", False, {"engaging": 1}, closed_day=i) for i in range(20)]
    deals += [closed(f"w{i}", True, {"engaging": 30}, closed_day=20 + i) for i in range(20)]
    # 40 training deals; 10 test deals, 5 short-lived lost and 5 long-lived won.
    deals += [closed(f"xl{i}", False, {"engaging": 2}, closed_day=100 + i) for i in range(5)]
    deals += [closed(f"xw{i}", True, {"engaging": 40}, closed_day=110 + i) for i in range(5)]
    accuracy = backtest(PIPELINE, deals, buckets=2, min_bucket_samples=20)
    assert accuracy is not None
    # Trained buckets start at 0 and 30 days: the won ones reached both, the lost only one.
    assert accuracy.test_deals == 10 and accuracy.predictions == 15
    # Model: 48 % for all at day 0, 83 % for the won ones at day 30.
    expected = (5 * 0.48**2 + 5 * 0.52**2 + 5 * 0.17**2) / 15
    assert accuracy.brier_score == pytest.approx(expected, abs=1e-6)
    # Without the age factor all 15 predictions are 48 %; worse here.
    stage_only = (5 * 0.48**2 + 10 * 0.52**2) / 15
    assert accuracy.stage_only_brier_score == pytest.approx(stage_only, abs=1e-6)
    assert accuracy.brier_score < accuracy.stage_only_brier_score


def test_no_backtest_with_too_few_closed_deals() -> None:
    deals = [closed(f"d{i}", i % 2 == 0, {"engaging": 1}, closed_day=i) for i in range(9)]
    assert backtest(PIPELINE, deals) is None
    assert train(PIPELINE, deals, T0).accuracy is None


def test_model_document_round_trip() -> None:
    deals = [closed(f"d{i}", i % 3 != 0, {"engaging": i}, closed_day=i) for i in range(60)]
    model = train(PIPELINE, deals, T0, trained_by="alice")
    doc = model.to_doc()
    assert doc["_id"] == "w1:w1:default"
    again = WinModel.from_doc(doc)
    assert again == model
    assert again.accuracy is not None and again.accuracy.calibration

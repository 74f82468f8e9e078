"""Win model figures: the model against the constant historical rate and the stage
defaults, on the shared demo dataset and on generated data (a known signal and the
degenerate histories), with the time to train and to predict.

    .venv/bin/python bench/forecast/run.py [--demo-now 2018-01-01] [--skip-demo]

No database or service: the demo CSV is read as `crm import deals` maps it (companies'
industry and size from accounts.csv), the generated datasets come from `datasets.py`.
Quality figures are the time-ordered backtest of `win_training.backtest` (every deal
open at each cut-off scored, censored ones left out). The prediction timing compares the
service's scorer (a dot product over the stored numbers) with scikit-learn's
`predict_proba` on one row, measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import datasets  # noqa: E402

from crm_deals.domain.default_pipeline import default_pipeline  # noqa: E402
from crm_deals.domain.win_features import CompanyFact, DealHistory, features_at  # noqa: E402
from crm_deals.domain.win_model import WinModel  # noqa: E402
from crm_deals.domain.win_training import context_for, train  # noqa: E402
from crm_deals.store.documents import history_from_doc  # noqa: E402
from crm_kit.paths import demo_dataset_dir  # noqa: E402


def report(name: str, model: WinModel, seconds: float, known_signal: bool = False) -> None:
    t = model.training
    print(f"\n## {name}")
    print(
        f"status {model.status} {[r.code for r in model.reasons]} warnings "
        f"{[w.code for w in model.warnings]}; {t.deals} deals, {t.closed_deals} closed "
        f"({t.dated_closed_deals} dated); {t.rows} training snapshots every {t.step_days} d, "
        f"horizon {model.horizon_days} d; trained in {seconds:.1f} s (with the backtest)"
    )
    e = model.evaluation
    if e is None:
        print("no backtest")
        return
    print(
        f"backtest: {len(e.folds)} cut-offs, {e.model.rows} open-deal predictions, "
        f"{e.censored_deals} censored"
    )
    print("| predictor | Brier | log loss | AUC | ECE |")
    print("|---|---|---|---|---|")
    for label, s in (
        ("model", e.model),
        ("constant rate", e.constant),
        ("stage defaults", e.stage_defaults),
    ):
        auc = "-" if s.auc is None else f"{s.auc:.4f}"
        print(f"| {label} | {s.brier:.4f} | {s.log_loss:.4f} | {auc} | {s.ece:.4f} |")
    print(
        f"model/constant Brier {e.model.brier / e.constant.brier:.2f}x, "
        f"model/stage-defaults {e.model.brier / e.stage_defaults.brier:.2f}x"
    )
    if known_signal:
        ok = e.model.brier <= 0.9 * e.constant.brier and e.model.ece < 0.03
        print(f"known signal recovered (Brier <= 0.9x constant, ECE < 0.03): {ok}")
    print("top features: " + ", ".join(f"{f} {v:.3f}" for f, v in model.importances[:6]))


def timing(model: WinModel, deals: list[DealHistory], facts: dict, now: datetime) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    pipeline = default_pipeline("bench", now)
    ctx = context_for(pipeline, facts)
    open_deals = [d for d in deals if not d.closed][:500]
    encoder = model.encoder()
    start = time.perf_counter()
    for d in open_deals:
        model.predict(d, now, ctx, encoder)
    ours = (time.perf_counter() - start) / len(open_deals)
    rows = [features_at(d, now, ctx) for d in open_deals]
    vectors = np.asarray([encoder(r) for r in rows if r is not None])
    peer = LogisticRegression()
    peer.coef_ = np.asarray([[c.weight for c in model.columns]])
    peer.intercept_ = np.asarray([model.intercept])
    peer.classes_ = np.asarray([0, 1])
    start = time.perf_counter()
    for v in vectors:
        peer.predict_proba(v.reshape(1, -1))
    theirs = (time.perf_counter() - start) / len(vectors)
    print(
        f"\nprediction of one deal (features as of now + score + contributions): "
        f"{ours * 1e6:.0f} us; scikit-learn predict_proba of one encoded row (no features, "
        f"no contributions): {theirs * 1e6:.0f} us; ratio {ours / theirs:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--demo-now",
        default="2018-01-01",
        help="what the demo data is known at (it ends 2017-12-31)",
    )
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    pipeline = default_pipeline("bench", datasets.NOW)
    if not args.skip_demo:
        from crm_deals.win_model_cli import histories_from_csv

        now = datetime.fromisoformat(args.demo_now).replace(tzinfo=UTC)
        data = demo_dataset_dir()
        deals, facts = histories_from_csv(
            data / "sales_pipeline.csv", data / "products.csv", data / "accounts.csv", now
        )
        start = time.perf_counter()
        model = train(default_pipeline("bench", now), deals, now, companies=facts)
        report(f"demo dataset (known at {args.demo_now})", model, time.perf_counter() - start)
        timing(model, deals, facts, now)
    docs, companies = datasets.signal()
    facts = {k: CompanyFact(i, s) for k, (i, s) in companies.items()}
    deals = [history_from_doc(d) for d in docs]
    start = time.perf_counter()
    model = train(pipeline, deals, datasets.NOW, companies=facts)
    report("generated: known signal (3,000 deals)", model, time.perf_counter() - start, True)
    for name, docs in (
        ("generated: marketing funnel, every close won, unconverted leads open", datasets.funnel()),
        ("generated: funnel, every lead younger than the horizon", datasets.funnel(recent=True)),
        ("generated: 448 closed deals imported without engage dates", datasets.undated()),
        ("generated: every closed deal lost", datasets.single_class()),
        ("generated: 12 closed deals", datasets.too_few()),
    ):
        deals = [history_from_doc(d) for d in docs]
        start = time.perf_counter()
        model = train(pipeline, deals, datasets.NOW)
        report(name, model, time.perf_counter() - start)
        if model.usable:
            ctx = context_for(pipeline)
            preds = [model.predict(d, datasets.NOW, ctx).probability for d in deals if not d.closed]
            print(
                f"open deals now: {len(preds)}, mean estimate {sum(preds) / len(preds):.1f} %, "
                f"max {max(preds)} %"
            )


if __name__ == "__main__":
    main()

"""The dashboards' CPU as the load's mix asks them (issue 14 item 1): a workspace's
read-index entries (8,800 deals of 30 reps with stage histories of one to six moves), then
rounds of `--writes` deals moved (as a write or another replica's event installs them)
followed by one dashboard (the funnel, the forecast or the scorecards, at random) of one
caller: the sales manager (every deal) one time in ten, else one of the 30 reps, who sees
their own deals and those nobody owns (record sharing at `own`; `--sharing everyone`: every
caller sees every deal, the demo workspace's setting). The load sends about 1.4 deal
writes per dashboard (moves 7 %, creates 3 %, dashboards 7 %), each of a rep's deal. Prints CPU
milliseconds per dashboard (`time.process_time`) and a digest of the answers, so two
trees' runs (a `git archive` copy of main and a branch) can be compared.

    .venv/bin/python bench/load/dashboards_mix.py [--rounds 300] [--writes 1.4]
        [--sharing own|everyone]
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import os
import random
import sys
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from dashboards import NOW, PIPELINE, STAGES, random_doc  # noqa: E402

from crm_deals.domain.forecast import build_forecast  # noqa: E402
from crm_deals.domain.funnel import funnel  # noqa: E402
from crm_deals.domain.queries import EVERY_DEAL  # noqa: E402
from crm_deals.domain.rates import Converter, RateTable  # noqa: E402
from crm_deals.domain.report_parts import merge_forecasts, merge_funnels  # noqa: E402
from crm_deals.store.filters import deals_matching  # noqa: E402
from crm_deals.store.index_data import WorkspaceDeals  # noqa: E402
from crm_deals.store.index_entry import entry_of  # noqa: E402
from crm_deals.usecases.analytics import HeldScorecards, MergedScorecards  # noqa: E402

REPS = [f"rep-{n}" for n in range(30)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=8800)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--writes", type=float, default=1.4, help="deal writes per dashboard")
    parser.add_argument("--sharing", choices=("own", "everyone"), default="own")
    args = parser.parse_args()
    rng = random.Random(14)
    docs = []
    for n in range(args.deals):
        doc = random_doc(rng, n)
        doc["owner_id"] = None if n % 50 == 0 else REPS[n % len(REPS)]
        docs.append(doc)
    data = WorkspaceDeals()
    for doc in docs:
        data.put(entry_of(doc))
    window = (int((NOW - timedelta(days=90)).timestamp()), None)
    start, end = date.today().replace(day=1), date.today() + timedelta(days=180)
    convert = Converter("USD", RateTable(), date.today())
    # This tree's `WorkspaceDeals.report` takes the caller's holders, main's a filter.
    by_holders = "holders" in inspect.signature(data.report).parameters

    def seen(holders: frozenset[str] | None) -> Any:
        if holders is None or by_holders:
            return holders
        return deals_matching(replace(EVERY_DEAL, pipeline_id=PIPELINE.id, visible_to=holders))

    reports = [
        lambda h: (
            data.report(
                PIPELINE.id,
                seen(h),
                ("funnel",),
                lambda facts: funnel(facts, PIPELINE, window, "USD"),
                merge_funnels,
            ).stages
        ),
        lambda h: (
            data.report(
                PIPELINE.id,
                seen(h),
                ("forecast",),
                lambda facts: build_forecast(facts, PIPELINE.id, start, end, "USD"),
                merge_forecasts,
            ).months
        ),
        lambda h: data.report(
            PIPELINE.id,
            seen(h),
            ("scorecards",),
            lambda facts: HeldScorecards(facts, PIPELINE.id, window, convert),
            MergedScorecards,
        ).at(NOW),
    ]
    digest = hashlib.sha256()
    spent = 0.0
    owed = 0.0
    for n in range(args.rounds):
        owed += args.writes
        while owed >= 1:
            owed -= 1
            moved = dict(rng.choice(docs))
            history = [*moved["stage_history"], {"to_stage": rng.choice(STAGES), "at": NOW}]
            moved.update(stage_history=history, rev=int(moved.get("rev") or 1) + n + 1)
            data.put(entry_of(moved))
        rep = frozenset({rng.choice(REPS)})
        holders = None if rng.random() < 0.1 or args.sharing == "everyone" else rep
        report = rng.choice(reports)
        started = time.process_time()
        answer = report(holders)
        spent += time.process_time() - started
        digest.update(repr(_plain(answer)).encode())
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"{args.deals} deals, {args.rounds} dashboards, {args.writes} writes before each, "
        f"sharing {args.sharing} ({'parts by owner' if by_holders else 'parts by id hash'})"
    )
    print(f"  {spent * 1000 / args.rounds:7.2f} ms CPU per dashboard")
    print(f"  answers' digest {digest.hexdigest()[:16]}")
    return 0


def _plain(value: Any) -> Any:
    """A report's figures as plain values, multisets sorted (their order is the parts')."""
    if isinstance(value, list | tuple):
        if all(isinstance(item, int) for item in value):
            return sorted(value)
        return [_plain(item) for item in value]
    if hasattr(value, "__dict__"):
        return {k: _plain(v) for k, v in sorted(vars(value).items()) if k not in ("converter",)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(value.items(), key=lambda kv: repr(kv[0]))}
    return value


if __name__ == "__main__":
    raise SystemExit(main())

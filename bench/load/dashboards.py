"""The dashboards' CPU after a write (issue 14 item 1): a workspace's read-index entries
(the demo's 8,800 deals with stage histories of one to six moves), then rounds of one
deal moved (as a write or another replica's event installs it) followed by the funnel,
the forecast and the owner scorecards over the pipeline, as `pipeline_report` asks them
of the entries. Each round runs twice in the same run, alternating: kept whole (any
change empties it: every deal computed again) and kept in parts (`WorkspaceDeals.report`:
the moved deal's part only); both answers are checked equal. Prints CPU milliseconds per
round (`time.process_time`).

    .venv/bin/python bench/load/dashboards.py [--deals 8800] [--rounds 200]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for sub in ("libs", "services/deals"):
    sys.path.insert(0, str(ROOT / sub))

from crm_deals.domain.default_pipeline import default_pipeline  # noqa: E402
from crm_deals.domain.forecast import build_forecast  # noqa: E402
from crm_deals.domain.funnel import funnel  # noqa: E402
from crm_deals.domain.rates import Converter, RateTable  # noqa: E402
from crm_deals.domain.report_parts import merge_forecasts, merge_funnels  # noqa: E402
from crm_deals.store.documents import deal_from_doc, deal_to_doc  # noqa: E402
from crm_deals.store.index_data import WorkspaceDeals  # noqa: E402
from crm_deals.store.index_entry import entry_of  # noqa: E402
from crm_deals.usecases.analytics import HeldScorecards, MergedScorecards  # noqa: E402

NOW = datetime.now(UTC).replace(microsecond=0)
PIPELINE = default_pipeline("demo", NOW)
STAGES = [s.key for s in PIPELINE.stages]


def random_doc(rng: random.Random, n: int) -> dict[str, Any]:
    moves = rng.randint(1, 6)
    times = sorted(NOW - timedelta(hours=rng.randrange(1, 365 * 24)) for _ in range(moves))
    stages = [rng.choice(STAGES) for _ in range(moves)]
    status = stages[-1] if stages[-1] in ("won", "lost") else "open"
    return deal_to_doc(
        deal_from_doc(
            {
                "_id": f"d{n}",
                "workspace_id": "demo",
                "pipeline_id": PIPELINE.id,
                "stage_key": stages[-1],
                "status": status,
                "owner_id": f"rep-{n % 10}",
                "currency": "USD",
                "amount_minor": rng.randrange(1_000, 5_000_000),
                "stage_probability": 40,
                "expected_close_date": str(date.today() + timedelta(days=rng.randrange(200))),
                "closed_at": times[-1] if status != "open" else None,
                "created_at": times[0] - timedelta(days=3),
                "stage_history": [
                    {"to_stage": s, "at": t} for s, t in zip(stages, times, strict=True)
                ],
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=8800)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(14)
    docs = [random_doc(rng, n) for n in range(args.deals)]
    data = WorkspaceDeals()
    for doc in docs:
        data.put(entry_of(doc))
    window = (int((NOW - timedelta(days=90)).timestamp()), None)
    start, end = date.today().replace(day=1), date.today() + timedelta(days=180)

    convert = Converter("USD", RateTable(), date.today())

    def dashboards(parts: bool) -> tuple[Any, Any, Any]:
        fu = data.report(
            PIPELINE.id,
            None,
            ("funnel", parts),
            lambda facts: funnel(facts, PIPELINE, window, "USD"),
            merge_funnels if parts else None,
        )
        fc = data.report(
            PIPELINE.id,
            None,
            ("forecast", parts),
            lambda facts: build_forecast(facts, PIPELINE.id, start, end, "USD"),
            merge_forecasts if parts else None,
        )
        held = data.report(
            PIPELINE.id,
            None,
            ("scorecards", parts),
            lambda facts: HeldScorecards(facts, PIPELINE.id, window, convert),
            MergedScorecards if parts else None,
        )
        return fu, fc, held.at(NOW)

    spent = {False: 0.0, True: 0.0}
    for n in range(args.rounds + 2):
        moved = dict(rng.choice(docs))
        history = [*moved["stage_history"], {"to_stage": rng.choice(STAGES), "at": NOW}]
        moved.update(stage_history=history, rev=int(moved.get("rev") or 1) + n + 1)
        data.put(entry_of(moved))
        answers = {}
        for parts in (n % 2 == 0, n % 2 == 1):
            started = time.process_time()
            answers[parts] = dashboards(parts)
            if n >= 2:  # the first rounds fill the parts
                spent[parts] += time.process_time() - started
        whole, kept = answers[False], answers[True]
        assert kept[1] == whole[1], "forecasts differ"
        assert [
            vars(c) | {"outcomes": vars(c.outcomes) | {"cycle_seconds": 0}} for c in kept[2]
        ] == [vars(c) | {"outcomes": vars(c.outcomes) | {"cycle_seconds": 0}} for c in whole[2]], (
            "scorecards differ"
        )
        for a, b in zip(kept[0].stages, whole[0].stages, strict=True):
            assert (a.entered, a.advanced, sorted(a.stay_seconds)) == (
                b.entered,
                b.advanced,
                sorted(b.stay_seconds),
            ), "funnels differ"
    whole_ms = spent[False] * 1000 / args.rounds
    parts_ms = spent[True] * 1000 / args.rounds
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"{args.deals} deals, {args.rounds} rounds of one move then funnel + forecast + scorecards"
    )
    print(f"  kept whole (recomputed over every deal): {whole_ms:7.2f} ms CPU per round")
    print(f"  kept in parts (the moved deal's part):   {parts_ms:7.2f} ms CPU per round")
    print(f"  ratio parts / whole: {parts_ms / whole_ms:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

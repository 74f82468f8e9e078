"""A board card's conversion from its held document (issue 14 item 1): `deal_from_doc`
(every history converted) against `read_deal_from_doc` (the read path's `ReadDeal`, its
histories converted when a field asks for one; a board's fields ask for none), for
documents with short to long histories. Prints microseconds per card (best of 7 timeit
repeats) and the ratio.

    .venv/bin/python bench/load/cards.py
"""

from __future__ import annotations

import os
import sys
import timeit
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for sub in ("libs", "services/deals"):
    sys.path.insert(0, str(ROOT / sub))

from crm_deals.store.documents import deal_from_doc  # noqa: E402
from crm_deals.store.read_deals import read_deal_from_doc  # noqa: E402

NOW = datetime(2026, 1, 1, tzinfo=UTC)
N = 20_000


def stored(moves: int, activities: int) -> dict[str, Any]:
    change = {"from_stage": "a", "to_stage": "b", "by": "u", "seconds_in_from_stage": 5}
    return {
        "_id": "d1",
        "workspace_id": "demo",
        "title": "GTX Pro for account 1",
        "amount_minor": 100_00,
        "currency": "USD",
        "pipeline_id": "demo:default",
        "stage_key": "engaging",
        "contact_ids": ["c1", "c2"],
        "custom_fields": {"region": "EMEA"},
        "stage_history": [
            {**change, "id": f"s{i}", "at": NOW + timedelta(days=i), "pipeline_id": "p"}
            for i in range(moves)
        ],
        "owner_changes": [{"from_owner_id": "a", "to_owner_id": "b", "at": NOW, "by": "u"}],
        "field_changes": [{"at": NOW, "field": "amount_minor", "previous": 1}] * 2,
        "activity_log": [{"at": NOW, "kind": "call"}] * activities,
    }


def best(call: Callable[[], object]) -> float:
    """Microseconds per call, the best of 7 repeats (the least disturbed by the machine)."""
    return min(timeit.repeat(call, number=N, repeat=7)) / N * 1e6


def main() -> int:
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for moves, activities in ((1, 0), (5, 5), (10, 20)):
        doc = stored(moves, activities)
        whole = best(lambda doc=doc: deal_from_doc(doc))
        lazy = best(lambda doc=doc: read_deal_from_doc(doc))
        print(
            f"{moves:2} stage changes, {activities:2} activities: deal_from_doc {whole:6.2f} us,"
            f" read_deal_from_doc {lazy:6.2f} us, ratio {lazy / whole:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

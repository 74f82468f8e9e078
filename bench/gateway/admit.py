"""What the gateway spends before it calls a subgraph, per request of the load's mix:
`Gateway.admit` (the document from its cache, the variables coerced, the cost estimated,
the plan from its cache) for the web app's read documents with the variables
`bench/load/workload.py` sends, in process, CPU microseconds per request.

    PYTHONPATH=libs:gateway .venv/bin/python bench/gateway/admit.py [--requests 2000]

Run it in two trees (a `git archive` copy of main and a branch) to compare them: the
documents come from the tree's own `web/src`, the supergraph from its `gateway/`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench" / "load"))
sys.path.insert(0, str(REPO / "gateway"))
sys.path.insert(0, str(REPO / "libs"))

from documents import document  # noqa: E402

from crm_gateway.gateway import Admitted, Gateway, GatewayRequest  # noqa: E402

# (operation, variables) as the load's users send them (ids are any well-formed ids).
MIX: list[tuple[str, dict[str, Any]]] = [
    ("Board", {"pipelineId": "p1", "first": 20}),
    ("BoardColumnPage", {"filter": {"pipelineId": "p1", "stageKey": "engaging"}, "first": 20}),
    ("DealPage", {"id": "d1"}),
    (
        "ContactsList",
        {
            "filter": {"text": "smith"},
            "orderBy": {"field": "LAST_NAME", "direction": "ASC"},
            "first": 25,
        },
    ),
    ("ContactsList", {"first": 25}),
    ("ContactPage", {"id": "c1"}),
    ("MyTasks", {}),
    ("Funnel", {"pipelineId": "p1"}),
    ("Forecast", {"pipelineId": "p1", "from": "2026-12-01", "to": "2027-05-30"}),
    ("Scorecards", {"pipelineId": "p1"}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="per document")
    args = parser.parse_args()
    gateway = Gateway((REPO / "gateway" / "supergraph.graphql").read_text())
    print(f"{'operation':<16} {'us per admit':>12}")
    total = 0.0
    for name, variables in MIX:
        request = GatewayRequest(document(name), variables)
        assert isinstance(gateway.admit(request), Admitted), name  # cached, and valid
        started = time.process_time()
        for _ in range(args.requests):
            gateway.admit(request)
        spent = (time.process_time() - started) / args.requests * 1e6
        total += spent
        print(f"{name:<16} {spent:>12.1f}")
    print(f"{'mean':<16} {total / len(MIX):>12.1f}")
    print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")


if __name__ == "__main__":
    main()

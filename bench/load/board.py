"""The board alone (the web app's `Board` document, 7 columns of 20 cards with company and
open tasks) through the gateway: sequential requests, p50/p95, and FerretDB's requests per
board read from its own metrics (`ferretdb_client_requests_total` at `/debug/metrics`), beside
`{ __typename }` at the gateway measured in the same run (the floor)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
from documents import document
from measure import ProcessMeter, ms, percentile
from workload import Pools

REQUESTS_METRIC = "ferretdb_client_requests_total"


async def ferretdb_requests(http: httpx.AsyncClient, metrics_url: str | None) -> float | None:
    """FerretDB's request counter (every command of every client), None when unknown."""
    if not metrics_url:
        return None
    response = await http.get(metrics_url)
    total = 0.0
    for line in response.text.splitlines():
        if line.startswith(REQUESTS_METRIC + "{") or line.startswith(REQUESTS_METRIC + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def run_board(
    url: str,
    token: str,
    pools: Pools,
    boards: int,
    metrics_url: str | None,
    meter: ProcessMeter | None = None,
) -> dict[str, float]:
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    board = {
        "query": document("Board"),
        "variables": {"pipelineId": pools.pipeline_id, "first": 20},
    }
    floor = {"query": "{ __typename }", "variables": {}}
    async with httpx.AsyncClient(timeout=60, trust_env=False) as http:

        async def timed(body: dict[str, Any]) -> float:
            started = time.perf_counter()
            response = await http.post(url, content=orjson.dumps(body), headers=headers)
            elapsed = time.perf_counter() - started
            data = orjson.loads(response.content)
            assert response.status_code == 200 and not data.get("errors"), data
            return elapsed

        await timed(board)  # warm: the indexes and held documents of this board
        floors = [await timed(floor) for _ in range(boards)]
        before = await ferretdb_requests(http, metrics_url)
        if meter is not None:
            meter.start()
        samples = [await timed(board) for _ in range(boards)]
        used = meter.stop() if meter is not None else {}
        after = await ferretdb_requests(http, metrics_url)
    # Other work of the stack (relays, consumers) counts too: measured while idle.
    per_board = (after - before) / boards if before is not None and after is not None else None
    result = {
        "p50": percentile(samples, 50),
        "p95": percentile(samples, 95),
        "floor_p50": percentile(floors, 50),
    }
    print(f"\nboard ({boards} sequential requests through the gateway, after one warm-up):")
    print(
        f"  p50 {ms(result['p50'])}  p95 {ms(result['p95'])}  "
        f"{{ __typename }} p50 {ms(result['floor_p50'])}  "
        f"ratio p50 {result['p50'] / result['floor_p50']:.1f}x"
    )
    if per_board is not None:
        result["ferretdb_requests"] = per_board
        print(f"  FerretDB requests per board: {per_board:.1f}")
    if used:
        # Sequential boards: each process's CPU per board, whatever the machine's load
        # made the boards wait (the generator's and the services' background work
        # included, which is small while nothing else runs).
        spent = ", ".join(
            f"{name} {usage.cpu * 1000 / boards:.2f}"
            for name, usage in sorted(used.items(), key=lambda item: -item[1].cpu)
            if usage.cpu * 1000 / boards >= 0.05
        )
        print(f"  CPU ms per board: {spent}")
    return result

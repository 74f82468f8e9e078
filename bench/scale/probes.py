"""What the scale benchmark measures on a loaded workspace, through the gateway with the web
app's own documents (`bench/load/documents.py`): the board, contact search, the forecast,
the pipeline analytics (funnel) and moveDeal, each a bounded number of samples at a modest
concurrency; beside them the raw driver's equivalent of the board and of the search on the
same database in the same run (the floor: what a client of the database alone reads)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import cpu
import httpx
import orjson
from documents import document
from measure import percentile
from pymongo import AsyncMongoClient

from crm_kit.auth import issue_token

# Search terms a user types: parts of last names (the generator's), a few letters each.
SEARCH_TERMS = ("son", "ber", "ada", "ros", "ana", "ler", "ito", "sen", "vog", "zha")
# The first search after the start (reported apart, as the first board is): a text none of
# the samples searches, so that each of theirs is still a first evaluation when first met.
FIRST_SEARCH_TEXT = "qxq"
STAGES = ("prospecting", "qualification", "engaging", "proposal", "negotiation", "won", "lost")
REQUEST_TIMEOUT = 120.0
# One sampled call at most (a gateway request is bounded by REQUEST_TIMEOUT already; the
# raw driver's board scans the deals ten times).
CALL_TIMEOUT = 600.0


@dataclass
class Series:
    name: str
    samples: list[float]
    errors: int
    # CPU milliseconds per request, by process (what a request costs, whatever it waited).
    cpu_ms: dict[str, float] = field(default_factory=dict)
    # Each call: its number, when it started (seconds from the series' start) and how long
    # it took: which calls make the tail (`run.py` prints the slowest).
    calls: list[tuple[int, float, float]] = field(default_factory=list)

    def p(self, q: float) -> float:
        return percentile(self.samples, q)


async def sampled(
    name: str,
    count: int,
    concurrency: int,
    call: Callable[[int], Awaitable[bool]],
    pids: dict[str, int],
) -> Series:
    """`count` calls, `concurrency` at a time; each call's latency and whether it failed,
    and the CPU each process spent meanwhile per call."""
    samples: list[float] = []
    calls: list[tuple[int, float, float]] = []
    errors = 0
    numbers = iter(range(count))
    began = time.perf_counter()

    async def worker() -> None:
        nonlocal errors
        for n in numbers:
            started = time.perf_counter()
            try:
                # Bounded: the driver was seen waiting forever for a reply FerretDB had
                # counted as sent (a raw board at 10,000 deals under load 10 to 17).
                ok = await asyncio.wait_for(call(n), CALL_TIMEOUT)
            except TimeoutError:
                ok = False
            took = time.perf_counter() - started
            samples.append(took)
            calls.append((n, started - began, took))
            errors += 0 if ok else 1

    with cpu.Meter(*pids.values()) as meter:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    names = ["bench", *pids]
    per_call = {n: s * 1000 / max(count, 1) for n, s in zip(names, meter.seconds, strict=True)}
    return Series(name, samples, errors, per_call, calls)


class Gateway:
    """POSTs the web app's documents to the gateway as one user."""

    def __init__(self, http: httpx.AsyncClient, url: str, workspace: str, role: str) -> None:
        token = issue_token(workspace, f"bench-{role}", [role], 24 * 3600)
        self.http, self.url = http, url
        self.headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        self.failures: list[str] = []

    async def __call__(self, operation: str, variables: dict[str, Any]) -> dict[str, Any] | None:
        body = orjson.dumps({"query": document(operation), "variables": variables})
        try:
            response = await self.http.post(self.url, content=body, headers=self.headers)
            answer = orjson.loads(response.content)
        except (httpx.HTTPError, orjson.JSONDecodeError) as error:
            self._fail(f"{operation}: {type(error).__name__}")
            return None
        if response.status_code != 200 or answer.get("errors"):
            errors = answer.get("errors") or [{}]
            code = (errors[0].get("extensions") or {}).get("code")
            self._fail(
                f"{operation}: HTTP {response.status_code} {code} {errors[0].get('message')}"
            )
            return None
        data: dict[str, Any] = answer["data"]
        return data

    def _fail(self, text: str) -> None:
        if len(self.failures) < 5:
            self.failures.append(text)


async def measure_workspace(
    gateway_url: str,
    mongodb_uri: str,
    workspace: str,
    anchor: date,
    samples: int,
    concurrency: int,
    pids: dict[str, int],
    raw_samples: int,
) -> tuple[list[Series], list[str]]:
    """The reads and moves of one workspace, and the raw driver's board and search."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    mongo: AsyncMongoClient[Any] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    deals = mongo["crm_deals"]["deals"]
    contacts = mongo["crm_contacts"]["contacts"]
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT, limits=limits, trust_env=False) as http:
        manager = Gateway(http, gateway_url, workspace, "manager")
        # The first board after the start (what the warm-up leaves to the first user); a
        # timeout here is retried: it is reported, and the samples come after.
        started = time.perf_counter()
        first = None
        attempts = 0
        while first is None and attempts < 10:
            attempts += 1
            first = await manager("Board", {"first": 20})
        if first is None:
            raise RuntimeError(f"the board does not load: {manager.failures}")
        first_board = Series("first board", [time.perf_counter() - started], attempts - 1)
        pipeline_id = first["pipelineBoard"]["pipeline"]["id"]
        month = anchor.replace(day=1)
        window = {"from": month.isoformat(), "to": (month + timedelta(days=185)).isoformat()}

        async def board(_: int) -> bool:
            return await manager("Board", {"pipelineId": pipeline_id, "first": 20}) is not None

        async def search(n: int) -> bool:
            return await searched(SEARCH_TERMS[n % len(SEARCH_TERMS)])

        async def searched(text: str) -> bool:
            variables = {
                "filter": {"text": text},
                "orderBy": {"field": "LAST_NAME", "direction": "ASC"},
                "first": 25,
            }
            return await manager("ContactsList", variables) is not None

        async def first_search() -> Series:
            # The document's first call since the start, as the first board: the gateway
            # plans it and the contacts subgraph prepares it (~14 and ~7 ms of CPU), once
            # per process. Apart from the samples, which measure the searches after it.
            started = time.perf_counter()
            ok = await searched(FIRST_SEARCH_TEXT)
            return Series("first search", [time.perf_counter() - started], 0 if ok else 1)

        async def forecast(_: int) -> bool:
            return await manager("Forecast", {"pipelineId": pipeline_id, **window}) is not None

        async def funnel(_: int) -> bool:
            return await manager("Funnel", {"pipelineId": pipeline_id}) is not None

        # Moves: prospecting -> qualification (its exit criterion, a company, every
        # generated deal has), each a deal of its own; the playbook of qualification runs.
        movable = [
            d["_id"]
            async for d in deals.find(
                {"workspace_id": workspace, "stage_key": "prospecting", "deleted_at": None},
                {"_id": 1},
            ).limit(samples)
        ]

        async def move(n: int) -> bool:
            if n >= len(movable):
                return False
            variables = {"id": movable[n], "stageKey": "qualification"}
            return await manager("MoveDeal", variables) is not None

        scope = {"workspace_id": workspace, "deleted_at": None, "pipeline_id": pipeline_id}

        async def raw_board(_: int) -> bool:
            async def totals(name: str, expr: Any) -> list[Any]:
                group = {"_id": {"s": "$stage_key", "c": "$currency"}, name: {"$sum": expr}}
                cursor = await deals.aggregate([{"$match": scope}, {"$group": group}])
                return await cursor.to_list()

            async def column(stage: str) -> list[Any]:
                cursor = deals.find({**scope, "stage_key": stage}).sort(
                    [("amount_minor", -1), ("_id", -1)]
                )
                return await cursor.limit(21).to_list()

            await asyncio.gather(
                totals("n", 1), totals("a", "$amount_minor"), totals("w", "$weighted_minor")
            )
            await asyncio.gather(*(column(stage) for stage in STAGES))
            return True

        async def raw_search(n: int) -> bool:
            term = re.escape(SEARCH_TERMS[n % len(SEARCH_TERMS)])
            text = {"$regex": term, "$options": "i"}
            where = {
                "workspace_id": workspace,
                "deleted_at": None,
                "$or": [{"first_name": text}, {"last_name": text}, {"company_name": text}],
            }
            page = contacts.find(where).sort([("last_name_key", 1), ("_id", 1)]).limit(26)
            await page.to_list()
            await contacts.count_documents(where)  # the page's totalCount
            return True

        try:
            found = [
                first_board,
                await sampled("board", samples, concurrency, board, pids),
                await sampled("raw board", raw_samples, concurrency, raw_board, pids),
                await first_search(),
                await sampled("contact search", samples, concurrency, search, pids),
                await sampled("raw search", raw_samples, concurrency, raw_search, pids),
                await sampled("forecast", samples, concurrency, forecast, pids),
                await sampled("pipeline analytics", samples, concurrency, funnel, pids),
                await sampled("moveDeal", min(samples, len(movable)), concurrency, move, pids),
            ]
        finally:
            await mongo.close()
    return found, manager.failures

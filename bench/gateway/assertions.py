"""What the gateway's internal assertions cost per subgraph request, with and without the
reuse cache, and what a subgraph pays to verify one; in-process, no servers.

    python bench/gateway/assertions.py [--calls 5000]

It prints microseconds per call, then the gateway's CPU per request for the two queries of
`run.py` executed in-process against recorded answers of the fake subgraphs (so only the
gateway's own work is timed): without assertions, with them, and with the reuse cache,
interleaved in rounds, with the ratios to the run without.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
for sub in ("libs", "gateway"):
    sys.path.insert(0, str(REPO / sub))
os.environ.setdefault("CRM_DATA_DIR", tempfile.mkdtemp(prefix="bench-assertions-"))

import httpx  # noqa: E402
import orjson  # noqa: E402

from crm_gateway.gateway import Gateway, GatewayRequest  # noqa: E402
from crm_gateway.identity import CALLER, SubgraphSigner  # noqa: E402
from crm_kit.assertions import KeyRing  # noqa: E402
from crm_kit.context import RequestContext  # noqa: E402
from crm_kit.graphql_http import ASSERTION_HEADER  # noqa: E402

CALLER_CONTEXT = RequestContext("demo", "bench", frozenset({"admin"}))


def per_call_us(call: object, calls: int) -> float:
    fn = call  # type: ignore[assignment]
    start = time.process_time()
    for _ in range(calls):
        fn()  # type: ignore[operator]
    return (time.process_time() - start) / calls * 1e6


def entity_body(n: int) -> bytes:
    """An entity fetch as the gateway sends it: a query and n representations."""
    reps = [{"__typename": "Deal", "id": f"d{i}"} for i in range(n)]
    query = "query($representations:[_Any!]!){_entities(representations:$representations)"
    query += "{...on Deal{id title tasks(status:OPEN){title dueAt assigneeId}}}}"
    return orjson.dumps({"query": query, "variables": {"representations": reps}})


class Recorded:
    """The fake subgraphs' answers, computed once per distinct request and then replayed,
    so that timing the gateway does not time the subgraphs."""

    def __init__(self) -> None:
        from fake_subgraphs import FakeSubgraph

        self.fakes = {n: FakeSubgraph(n) for n in ("contacts", "deals", "tasks")}
        self.answers: dict[tuple[str, bytes], bytes] = {}
        self.fetches = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        key = (request.url.host.split(".")[0], request.content)
        answer = self.answers.get(key)
        if answer is None:
            answer = orjson.dumps(self.fakes[key[0]].run(orjson.loads(request.content)))
            self.answers[key] = answer
        return httpx.Response(200, content=answer)


async def gateway_ms_per_request(
    sdl: str, signer: SubgraphSigner | None, body: dict, requests: int
) -> tuple[float, float]:
    """(CPU ms per request, fetches per request) of the gateway alone."""
    recorded = Recorded()
    gateway = Gateway(sdl, transport=httpx.MockTransport(recorded), signer=signer)
    request = GatewayRequest(query=body["query"], variables=body.get("variables"))
    request.caller = CALLER_CONTEXT
    try:
        for _ in range(50):
            await gateway.execute(request)
        recorded.fetches = 0
        start = time.process_time()
        for _ in range(requests):
            await gateway.execute(request)
        spent = time.process_time() - start
    finally:
        await gateway.aclose()
    return spent / requests * 1000, recorded.fetches / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=400, help="per round and variant")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    gateway = KeyRing.from_env("gateway")
    subgraph = KeyRing.from_env("deals")
    token = CALLER.set(CALLER_CONTEXT)
    try:
        print(f"{'body':<22}{'mint µs':>10}{'cached µs':>11}{'verify µs':>11}")
        for n in (1, 20, 200):
            body = entity_body(n)
            plain = SubgraphSigner(gateway)
            cached = SubgraphSigner(gateway, cache_size=1024)
            cached.headers("deals", body)
            mint = per_call_us(lambda b=body, s=plain: s.headers("deals", b), args.calls)
            hit = per_call_us(lambda b=body, s=cached: s.headers("deals", b), args.calls)
            assertion = plain.headers("deals", body)[ASSERTION_HEADER]
            verify = per_call_us(
                lambda b=body, a=assertion: subgraph.verify(
                    a, audience="subgraph:deals", issuers=("gateway",), body=b
                ),
                args.calls,
            )
            label = f"{n} reps, {len(body)} B"
            print(f"{label:<22}{mint:>10.1f}{hit:>11.1f}{verify:>11.1f}")
    finally:
        CALLER.reset(token)
    from run import DEAL_QUERY, PIPELINE_QUERY, compose

    sdl_dir = HERE / "fake_sdl"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "supergraph.graphql"
        names = ("contacts", "deals", "tasks")
        compose({n: (f"http://{n}.test/graphql", sdl_dir / f"{n}.graphql") for n in names}, out)
        sdl = out.read_text()
    variants = {
        "no assertions": None,
        "assertions": SubgraphSigner(gateway),
        "assertions, cache": SubgraphSigner(gateway, cache_size=1024),
    }
    for name, query, variables in (
        ("deal", DEAL_QUERY, {"id": "d7"}),
        ("pipeline", PIPELINE_QUERY, {}),
    ):
        spent: dict[str, list[float]] = {v: [] for v in variants}
        per_request = 0.0
        for _ in range(args.rounds):  # interleaved: drift on a shared machine hits all alike
            for variant, signer in variants.items():
                ms, per_request = asyncio.run(
                    gateway_ms_per_request(
                        sdl, signer, {"query": query, "variables": variables}, args.requests
                    )
                )
                spent[variant].append(ms)
        base = min(spent["no assertions"])
        print(f"\n== {name} ({per_request:.0f} subgraph fetches a request), gateway CPU")
        for variant, times in spent.items():
            best = min(times)
            print(
                f"{variant:<20}{best:>8.3f} ms{best / base:>8.2f}x{(best - base) * 1000:>+9.0f} µs"
            )


if __name__ == "__main__":
    main()

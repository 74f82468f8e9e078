"""The gateway's edge: malformed input is a 400 (never a 500), bodies are bounded, rate and
in-flight limits answer with the right status and headers, bad tokens are slowed down and
locked out, persisted queries are per workspace, and an operation that failed as a whole
for want of a subgraph says so in its status."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from crm_gateway.admission import AuthFailureGuard, RateLimiter
from crm_gateway.app import create_app, response_media_type
from crm_gateway.config import Admission, GatewaySettings
from crm_kit.context import RequestContext
from crm_kit.testing import MALFORMED_REQUESTS, eventually

QUERY = {"query": "{ deals { id } }"}


class TokenPerWorkspace:
    """A verifier for tests: token "w1:alice" is alice in w1; anything else is refused."""

    def verify(self, token: str) -> RequestContext:
        workspace, _, subject = token.partition(":")
        if not subject:
            raise ValueError("bad token")
        return RequestContext(workspace, subject, frozenset({"admin"}))


def _client(supergraph_sdl: str, world: Any, **admission: Any) -> httpx.AsyncClient:
    settings = GatewaySettings(admission=Admission(**admission), ready_cache_seconds=0)
    app = create_app(
        settings,
        supergraph_sdl=supergraph_sdl,
        verifier=TokenPerWorkspace(),
        auth=True,
        transport=world.transport,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


def _as(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
async def gw(supergraph_sdl: str, world: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(supergraph_sdl, world) as client:
        yield client


@pytest.mark.parametrize(
    ("content", "content_type", "field"),
    MALFORMED_REQUESTS,
)
async def test_malformed_requests_are_400_and_reach_no_subgraph(
    gw: httpx.AsyncClient, world: Any, content: bytes, content_type: str, field: str
) -> None:
    headers = {**_as("w1:alice"), "content-type": content_type}
    r = await gw.post("/graphql", content=content, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["extensions"] == {"code": "BAD_REQUEST", "field": field}
    assert "data" not in r.json()
    assert world.calls == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"query": "{ deals { id } }", "variables": "{oops"}, "BAD_REQUEST"),
        ({"query": "{ deals { id } }", "extensions": "[1]"}, "BAD_REQUEST"),
        ({}, "BAD_REQUEST"),
        ({"query": "query($n: Int!) { deal(id: $n) { id } }", "variables": '{"n": "x"}'}, None),
    ],
)
async def test_bad_get_parameters_and_variables_are_400(
    gw: httpx.AsyncClient, world: Any, params: dict[str, str], code: str | None
) -> None:
    r = await gw.get("/graphql", params=params, headers=_as("w1:alice"))
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["extensions"]["code"] in (
        (code,) if code else ("BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED")
    )
    assert world.calls == []


async def test_bodies_over_the_limit_are_refused_without_reading_them(
    supergraph_sdl: str, world: Any
) -> None:
    pulled = 0

    async def hundred_megabytes() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(1600):
            pulled += 1
            yield b" " * 65536

    async with _client(supergraph_sdl, world, max_body_bytes=1_000_000) as gw:
        r = await gw.post(
            "/graphql",
            content=hundred_megabytes(),
            headers={**_as("w1:alice"), "content-type": "application/json"},
        )
        assert r.status_code == 413
        assert r.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        assert pulled <= 17  # read up to the first byte over the limit, not 100 MB
        declared = await gw.post(
            "/graphql",
            content=b"{}",
            headers={**_as("w1:alice"), "content-length": "104857600"},
        )
        assert declared.status_code == 413
    assert world.calls == []


async def test_cost_bombs_are_refused_before_any_fetch(gw: httpx.AsyncClient, world: Any) -> None:
    q = "{ contacts { interactions(first: 1000000) { kind } } }"
    r = await gw.post("/graphql", json={"query": q}, headers=_as("w1:alice"))
    error = r.json()["errors"][0]
    assert r.status_code == 400 and error["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    assert error["extensions"]["cost"] > error["extensions"]["maxCost"]
    assert world.calls == []


async def test_rate_limits_per_token_and_per_address(supergraph_sdl: str, world: Any) -> None:
    # Refills slow enough (one request per 100 s) that a loaded machine taking seconds over
    # the three requests cannot let the third through.
    async with _client(
        supergraph_sdl, world, rate_per_token=0.01, burst_per_token=2, rate_per_ip=100
    ) as gw:
        answers = [await gw.post("/graphql", json=QUERY, headers=_as("w1:alice")) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        limited = answers[2]
        assert limited.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert int(limited.headers["retry-after"]) >= 1
        assert '"per-token";q=2;w=200' in limited.headers["ratelimit-policy"]
        assert '"per-token";r=0;' in limited.headers["ratelimit"]
        assert '"per-token";r=1;' in answers[0].headers["ratelimit"]
        # Another caller from the same address has a bucket of its own.
        other = await gw.post("/graphql", json=QUERY, headers=_as("w1:bob"))
        assert other.status_code == 200
    async with _client(supergraph_sdl, world, rate_per_ip=0.01, burst_per_ip=2) as gw:
        codes = [
            (await gw.post("/graphql", json=QUERY, headers=_as(f"w1:user{i}"))).status_code
            for i in range(3)
        ]
        assert codes == [200, 200, 429]


async def test_requests_beyond_the_in_flight_bound_get_503(supergraph_sdl: str, world: Any) -> None:
    world.subgraphs["deals"].delay = 0.3
    async with _client(supergraph_sdl, world, max_in_flight=1) as gw:
        slow = asyncio.create_task(gw.post("/graphql", json=QUERY, headers=_as("w1:alice")))

        async def slow_one_arrived() -> bool:
            return bool(world.calls)

        await eventually(slow_one_arrived, timeout=5, what="the slow request is in flight")
        refused = await gw.post("/graphql", json=QUERY, headers=_as("w1:alice"))
        assert (await slow).status_code == 200
        after = await gw.post("/graphql", json=QUERY, headers=_as("w1:alice"))
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["errors"][0]["extensions"] == {
        "code": "SERVICE_UNAVAILABLE",
        "retryable": True,
    }
    assert after.status_code == 200


async def test_an_address_guessing_tokens_is_locked_out(supergraph_sdl: str, world: Any) -> None:
    async with _client(supergraph_sdl, world, auth_slow_after=1, auth_lock_after=3) as gw:
        codes = [
            (await gw.post("/graphql", json=QUERY, headers=_as("guess"))).status_code
            for _ in range(4)
        ]
        locked = await gw.post("/graphql", json=QUERY, headers=_as("w1:alice"))
    assert codes == [401, 401, 401, 429]
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
    assert locked.json()["errors"][0]["extensions"]["code"] == "TOO_MANY_REQUESTS"
    assert world.calls == []


def test_bad_token_back_off_grows_then_locks_then_forgives() -> None:
    guard = AuthFailureGuard(slow_after=2, lock_after=5, forgive_per_second=1.0)
    delays = [guard.failed("a", now=0.0) for _ in range(4)]
    assert delays[:2] == [0.0, 0.0] and 0 < delays[2] < delays[3]
    assert guard.locked_for("a", now=0.0) == 0
    guard.failed("a", now=0.0)
    assert guard.locked_for("a", now=0.0) >= 1
    assert guard.locked_for("b", now=0.0) == 0  # other addresses are not affected
    assert guard.locked_for("a", now=10.0) == 0  # the score drains


def test_token_bucket_refills_at_its_rate() -> None:
    limiter = RateLimiter("p", rate=2.0, burst=2)
    assert [limiter.take("k", now=0.0).allowed for _ in range(3)] == [True, True, False]
    assert limiter.take("k", now=0.5).allowed  # one token back after 1/rate seconds
    refused = limiter.take("k", now=0.5)
    assert not refused.allowed and refused.retry_after == 1


async def test_persisted_queries_are_per_workspace(gw: httpx.AsyncClient) -> None:
    import hashlib

    query = "{ deals { id } }"
    ext = {
        "persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(query.encode()).hexdigest()}
    }
    registered = await gw.post(
        "/graphql", json={"query": query, "extensions": ext}, headers=_as("w1:alice")
    )
    assert "errors" not in registered.json()
    mine = await gw.post("/graphql", json={"extensions": ext}, headers=_as("w1:bob"))
    assert mine.json()["data"]["deals"][0] == {"id": "d1"}
    theirs = await gw.post("/graphql", json={"extensions": ext}, headers=_as("w2:eve"))
    assert theirs.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_wholly_unavailable_operation_is_503_for_graphql_response_json(
    gw: httpx.AsyncClient, world: Any
) -> None:
    world.subgraphs["deals"].down = True
    modern = await gw.post(
        "/graphql",
        json=QUERY,
        headers={**_as("w1:alice"), "accept": "application/graphql-response+json"},
    )
    assert modern.status_code == 503 and modern.headers["retry-after"] == "1"
    assert modern.headers["content-type"].startswith("application/graphql-response+json")
    assert "data" not in modern.json()
    error = modern.json()["errors"][0]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert error["extensions"]["retryable"] is True
    legacy = await gw.post("/graphql", json=QUERY, headers=_as("w1:alice"))
    assert legacy.status_code == 200 and legacy.json()["data"] is None
    # Partial data is a 200 in both.
    partial = await gw.post(
        "/graphql",
        json={"query": '{ deal(id: "d1") { id } contacts { id } }'},
        headers={**_as("w1:alice"), "accept": "application/graphql-response+json"},
    )
    assert partial.status_code == 200 and partial.json()["data"]["contacts"]


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        ("application/graphql-response+json", "application/graphql-response+json"),
        (
            "application/graphql-response+json, application/json;q=0.9",
            "application/graphql-response+json",
        ),
        ("application/json, application/graphql-response+json;q=0.5", "application/json"),
    ],
)
def test_response_media_type(accept: str | None, chosen: str) -> None:
    assert response_media_type(accept) == chosen


async def test_idempotency_keys_reach_the_subgraphs(gw: httpx.AsyncClient, world: Any) -> None:
    await gw.post(
        "/graphql",
        json={"query": 'mutation { createTask(title: "x") { id } }'},
        headers={**_as("w1:alice"), "idempotency-key": "k-123"},
    )
    assert [c.headers.get("idempotency-key") for c in world.calls] == ["k-123"]


async def test_mutation_fetches_to_one_subgraph_are_numbered_under_one_key(
    gw: httpx.AsyncClient, world: Any
) -> None:
    """Root mutation fields run in order: deals, then tasks, then deals again makes two
    deals requests, each a request with a result of its own under the client's key."""
    operation = """mutation { a: moveDeal(id: "d1", stage: "won") { id }
      b: createTask(title: "x") { id } c: renameDeal(id: "d1", title: "y") { id } }"""
    await gw.post(
        "/graphql",
        json={"query": operation},
        headers={**_as("w1:alice"), "idempotency-key": "k-9"},
    )
    sent = [
        (c.subgraph, c.headers.get("idempotency-key"), c.headers.get("crm-idempotency-step"))
        for c in world.calls
        if c.query.lstrip().startswith("mutation")
    ]
    assert sent == [("deals", "k-9", None), ("tasks", "k-9", None), ("deals", "k-9", "2")]
    world.calls.clear()
    await gw.post("/graphql", json={"query": operation}, headers=_as("w1:alice"))
    assert all("crm-idempotency-step" not in c.headers for c in world.calls)

"""The HTTP surface: routes, auth, APQ, limits, caches, metrics, plan debugging."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from crm_gateway.app import create_app
from crm_gateway.config import GatewaySettings
from crm_gateway.limits import Limits
from crm_kit.assertions import KeyRing
from crm_kit.context import RequestContext
from crm_kit.graphql_http import ASSERTION_HEADER


class FakeAuthError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FakeVerifier:
    """Stands in for crm_kit.auth.TokenVerifier: accepts the token "good" only."""

    def verify(self, token: str) -> RequestContext:
        if token != "good":
            raise FakeAuthError("token expired")
        return RequestContext("w1", "alice", frozenset({"admin"}))


def make_client(
    supergraph_sdl: str,
    world: Any,
    *,
    auth: bool = False,
    limits: Limits | None = None,
    **settings_: Any,
) -> httpx.AsyncClient:
    settings = GatewaySettings(limits=limits or Limits(), **settings_)
    app = create_app(
        settings,
        supergraph_sdl=supergraph_sdl,
        verifier=FakeVerifier() if auth else None,
        auth=auth,
        transport=world.transport,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


@pytest.fixture
async def client(supergraph_sdl, world):
    async with make_client(supergraph_sdl, world) as c:
        yield c


async def test_post_and_get(client) -> None:
    r = await client.post("/graphql", json={"query": "{ deals { id } }"})
    assert r.status_code == 200 and r.json()["data"]["deals"][0] == {"id": "d1"}
    r = await client.get(
        "/graphql",
        params={"query": "query($i: ID!) { deal(id: $i) { id } }", "variables": '{"i": "d2"}'},
    )
    assert r.json() == {"data": {"deal": {"id": "d2"}}}


async def test_get_refuses_mutations(client, world) -> None:
    r = await client.get("/graphql", params={"query": 'mutation { createTask(title: "x") { id } }'})
    assert r.status_code == 405
    assert r.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert world.calls == []


async def test_graphiql_for_browsers(client) -> None:
    r = await client.get("/graphql", headers={"accept": "text/html"})
    assert r.status_code == 200 and "graphiql" in r.text.lower()


async def test_health_ready_metrics(supergraph_sdl, world) -> None:
    async with make_client(supergraph_sdl, world, ready_cache_seconds=0) as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        r = await client.get("/ready")
        assert r.status_code == 200 and r.json()["subgraphs"] == {
            "contacts": True,
            "deals": True,
            "tasks": True,
        }
        world.subgraphs["deals"].down = True
        r = await client.get("/ready")
        assert r.status_code == 503 and r.json()["subgraphs"]["deals"] is False
        assert (await client.get("/health")).status_code == 200  # liveness depends on nothing
        before = _sample("crm_graphql_requests_total", DEALS_QUERY)
        failed_fetches = _sample("crm_gateway_subgraph_fetches_total", FAILED_DEALS_FETCH)
        await client.post("/graphql", json={"query": "query Deals { deals { id } }"})
        assert _sample("crm_graphql_requests_total", DEALS_QUERY) == before + 1
        assert _sample("crm_gateway_subgraph_fetches_total", FAILED_DEALS_FETCH) == (
            failed_fetches + 1
        )
        errors = {**DEALS_QUERY, "code": "SERVICE_UNAVAILABLE"}
        assert _sample("crm_graphql_errors_total", errors) >= 1
        # Metrics are not served on the public port.
        assert (await client.get("/metrics")).status_code == 404


DEALS_QUERY = {"service": "gateway", "operation_type": "query", "operation_name": "Deals"}
FAILED_DEALS_FETCH = {"subgraph": "deals", "outcome": "error"}


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_query_plan_header(client) -> None:
    r = await client.post(
        "/graphql",
        json={"query": "{ deals { tasks { id } } }"},
        headers={"x-crm-query-plan": "true"},
    )
    plan = r.json()["extensions"]["queryPlan"]
    assert plan["node"]["kind"] == "Sequence"
    assert plan["node"]["nodes"][1]["kind"] == "Flatten"
    r = await client.post("/graphql", json={"query": "{ deals { id } }"})
    assert "extensions" not in r.json()


async def test_auth_refuses_without_valid_token(supergraph_sdl, world) -> None:
    async with make_client(supergraph_sdl, world, auth=True) as c:
        r = await c.post("/graphql", json={"query": "{ deals { id } }"})
        assert r.status_code == 401
        assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        r = await c.post(
            "/graphql", json={"query": "{ deals { id } }"}, headers={"authorization": "Bearer bad"}
        )
        assert r.status_code == 401 and r.json()["errors"][0]["message"] == "token expired"
        assert world.calls == []
        assert (await c.get("/health")).status_code == 200
        r = await c.post(
            "/graphql",
            json={"query": "{ deals { id } }"},
            headers={"authorization": "Bearer good", "x-request-id": "req-9"},
        )
        assert r.status_code == 200 and r.headers["x-request-id"] == "req-9"
        sent = world.calls[0].headers
        # The subgraph gets the gateway's assertion for the verified caller, never the token.
        assert "authorization" not in sent and sent["x-request-id"] == "req-9"
        verified = KeyRing.from_env("deals").verify(
            sent[ASSERTION_HEADER],
            audience="subgraph:deals",
            issuers={"gateway"},
            body=world.calls[0].raw,
        )
        assert verified.context == RequestContext("w1", "alice", frozenset({"admin"}))
        # Tracing is off here: the gateway still starts a trace (not sampled) so that the
        # logs of every part name the same id.
        assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-00", sent["traceparent"])


async def test_the_callers_trace_goes_on_to_the_subgraphs(client, world) -> None:
    incoming = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    await client.post(
        "/graphql", json={"query": "{ deals { id } }"}, headers={"traceparent": incoming}
    )
    assert world.calls[-1].headers["traceparent"].startswith("00-" + "1" * 32 + "-")
    await client.post(
        "/graphql", json={"query": "{ deals { id } }"}, headers={"traceparent": "junk"}
    )
    fresh = world.calls[-1].headers["traceparent"]
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-00", fresh) and "1" * 32 not in fresh


async def test_automatic_persisted_queries(client, world) -> None:
    query = "{ deals { id } }"
    digest = hashlib.sha256(query.encode()).hexdigest()
    ext = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    r = await client.post("/graphql", json={"extensions": ext})
    assert r.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    r = await client.post("/graphql", json={"query": query, "extensions": ext})
    assert r.json()["data"]["deals"][0] == {"id": "d1"}
    r = await client.get(
        "/graphql",
        params={"extensions": f'{{"persistedQuery": {{"version": 1, "sha256Hash": "{digest}"}}}}'},
    )
    assert r.json()["data"]["deals"][0] == {"id": "d1"}
    bad = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
    r = await client.post("/graphql", json={"query": query, "extensions": bad})
    assert r.status_code == 400


@pytest.mark.parametrize(
    ("limits", "query", "code"),
    [
        (
            Limits(max_depth=3),
            "{ deals { company { name } primaryContact { company { id } } } }",
            "MAX_DEPTH_EXCEEDED",
        ),
        (Limits(max_aliases=1), "{ a: deals { id } b: deals { id } }", "MAX_ALIASES_EXCEEDED"),
        (Limits(max_root_fields=1), "{ deals { id } tasks { id } }", "MAX_ROOT_FIELDS_EXCEEDED"),
        (Limits(max_document_bytes=20), "{ deals { id title stage } }", "DOCUMENT_TOO_LARGE"),
        (
            Limits(max_cost=50),
            "{ deals { history { playbookTasks { id } } } }",
            "COST_LIMIT_EXCEEDED",
        ),
    ],
)
async def test_limits_refuse_before_any_subgraph_call(
    supergraph_sdl, world, limits, query, code
) -> None:
    async with make_client(supergraph_sdl, world, limits=limits) as c:
        r = await c.post("/graphql", json={"query": query})
        err = r.json()["errors"][0]
        assert err["extensions"]["code"] == code, err
        assert err["message"]
    assert world.calls == []


async def test_cost_uses_list_size_arguments(supergraph_sdl, world) -> None:
    q = "query($n: Int) { contacts { interactions(first: $n) { kind } } }"
    async with make_client(supergraph_sdl, world, limits=Limits(max_cost=100)) as c:
        ok = await c.post("/graphql", json={"query": q, "variables": {"n": 2}})
        assert "errors" not in ok.json()
        big = await c.post("/graphql", json={"query": q, "variables": {"n": 1000}})
        assert big.json()["errors"][0]["extensions"]["code"] == "COST_LIMIT_EXCEEDED"


async def test_invalid_documents_are_refused(client, world) -> None:
    r = await client.post("/graphql", json={"query": "{ deals { nope } }"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    r = await client.post("/graphql", json={"query": "{ deals { secretNote } }"})
    assert r.status_code == 400
    r = await client.post("/graphql", json={"query": "{ contacts { secretNote } }"})
    assert r.status_code == 400  # @inaccessible is not part of the client schema
    r = await client.post("/graphql", json={"query": "{ deals { "})
    assert r.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    r = await client.post(
        "/graphql",
        json={"query": "query($x: Int!) { contacts { interactions(first: $x) { kind } } }"},
    )
    assert r.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "x"}
    r = await client.post(
        "/graphql",
        json={
            "query": "query($x: Int!) { contacts { interactions(first: $x) { kind } } }",
            "variables": {"x": "two"},
        },
    )
    assert r.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "x"}
    assert world.calls == []


async def test_documents_and_plans_are_cached_and_bounded(supergraph_sdl, world) -> None:
    from crm_gateway.gateway import Gateway, GatewayRequest

    gw = Gateway(
        supergraph_sdl, transport=world.transport, document_cache_size=2, plan_cache_size=2
    )
    try:
        q = "{ deals { id } }"
        await gw.execute(GatewayRequest(query=q))
        await gw.execute(GatewayRequest(query=q))
        assert gw.documents.hits == 1 and gw.plans.hits == 1
        assert gw.prepare(q) is gw.prepare(q)
        for i in range(3):
            await gw.execute(GatewayRequest(query=f'{{ deal(id: "d{i}") {{ id }} }}'))
        assert len(gw.documents) == 2 and len(gw.plans) == 2
        assert q not in gw.documents
    finally:
        await gw.aclose()


async def test_real_token_verifier_from_crm_kit(supergraph_sdl, world, monkeypatch) -> None:
    monkeypatch.setenv("JWT_SECRET", "test-secret-" + "x" * 40)
    from crm_kit.auth import issue_token

    token = issue_token("w1", "alice", ["admin"])
    app = create_app(
        GatewaySettings(), supergraph_sdl=supergraph_sdl, auth=True, transport=world.transport
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as c:
        ok = await c.post(
            "/graphql",
            json={"query": "{ deals { id } }"},
            headers={"authorization": f"Bearer {token}"},
        )
        assert ok.status_code == 200 and "errors" not in ok.json()
        bad = await c.post(
            "/graphql",
            json={"query": "{ deals { id } }"},
            headers={"authorization": f"Bearer {token}x"},
        )
        assert bad.status_code == 401
        assert bad.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

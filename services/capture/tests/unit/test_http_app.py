"""The capture app over HTTP (fake store): GraphQL answers the gateway only (a user's own
bearer token is refused); the tracking endpoints accept only what the gateway forwards and
signs, for this audience and this body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import orjson
import pytest
from pymongo.errors import ServerSelectionTimeoutError

from crm_capture.app import create_app
from crm_capture.entrypoints.rate_limits import TokenBuckets
from crm_capture.store.memory import memory_store
from crm_capture.usecases import sites
from crm_capture.usecases.inputs import SiteInput
from crm_contracts import capture as contract
from crm_contracts.streams import RPC_HEADER_ASSERTION
from crm_kit.assertions import KeyRing
from crm_kit.auth import issue_token
from crm_kit.context import RequestContext
from crm_kit.settings import Settings
from crm_kit.testing import gateway_auth, running_app

from .conftest import World

ANONYMOUS = RequestContext("public", "anonymous:browser", frozenset())


@pytest.fixture
async def http(world: World) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        Settings(service="capture"),
        store=memory_store(world.db),
        directory=world.directory,
        config=world.config,
    )
    async with running_app(app) as client:
        yield client


def forwarded(report: dict, **browser: object) -> bytes:
    hit = contract.ForwardedHit(
        browser=contract.BrowserInfo(ip="198.51.100.9", user_agent="Mozilla/5.0", **browser),
        body=orjson.dumps(report).decode(),
    )
    return orjson.dumps(hit.wire())


def signed(body: bytes, party: str = "gateway", audience: str = contract.TRACKING_AUDIENCE) -> dict:
    token = KeyRing.from_env(party).mint(audience=audience, context=ANONYMOUS, body=body)
    return {RPC_HEADER_ASSERTION: token}


async def test_graphql_answers_the_gateway_only(http: httpx.AsyncClient) -> None:
    query = {"query": "{ captureSettings { bodyLimit } }"}
    assert (await http.post("/graphql", json=query)).status_code == 401
    bearer = {"authorization": f"Bearer {issue_token('w1', 'rita', ['admin'])}"}
    assert (await http.post("/graphql", json=query, headers=bearer)).status_code == 401
    answer = await http.post("/graphql", json=query, auth=gateway_auth("capture", "w1", "rita"))
    assert answer.status_code == 200 and answer.json()["data"]["captureSettings"]["bodyLimit"]


async def test_tracking_accepts_only_the_gateways_signed_requests(
    http: httpx.AsyncClient, world: World
) -> None:
    site = await sites.create_site(world.scope(), SiteInput(name="www"))
    report = {"k": site.id, "t": "view", "v": "visitor-0001", "u": "https://a.example/"}
    body = forwarded(report)
    path = contract.TRACKING_COLLECT_PATH
    assert (await http.post(path, content=body)).status_code == 401  # no assertion
    as_deals = await http.post(path, content=body, headers=signed(body, party="deals"))
    assert as_deals.status_code == 401  # another party
    other = signed(body, audience="subgraph:capture")
    assert (await http.post(path, content=body, headers=other)).status_code == 401
    tampered = forwarded({**report, "v": "visitor-9999"})
    assert (await http.post(path, content=tampered, headers=signed(body))).status_code == 401
    assert (await http.post(path, content=body, headers=signed(body))).status_code == 204
    assert len(world.db.collections["sessions"]) == 1
    load = orjson.dumps(
        contract.ForwardedHit(browser=contract.BrowserInfo(ip="198.51.100.9")).wire()
    )
    snippet = await http.post(contract.TRACKING_SNIPPET_PATH, content=load, headers=signed(load))
    assert snippet.status_code == 200 and len(snippet.content) < 2048


async def test_reports_beyond_the_burst_are_refused(world: World) -> None:
    config = replace(world.config, track_per_ip_per_minute=5)
    app = create_app(
        Settings(service="capture"), store=memory_store(world.db), directory=world.directory,
        config=config,
    )  # fmt: skip
    site = await sites.create_site(world.scope(), SiteInput(name="www"))
    statuses = []
    async with running_app(app) as http:
        for n in range(12):
            report = {"k": site.id, "t": "view", "v": "visitor-0001", "u": f"https://a.example/{n}"}
            body = forwarded(report)
            answer = await http.post(
                contract.TRACKING_COLLECT_PATH, content=body, headers=signed(body)
            )
            statuses.append(answer.status_code)
    assert statuses[:5] == [204] * 5 and 429 in statuses[5:]


def test_token_buckets_refill_at_their_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate_per_second=1.0, burst=2, max_keys=2, clock=lambda: now[0])
    assert [buckets.allow("a") for _ in range(3)] == [True, True, False]
    now[0] += 1.0
    assert buckets.allow("a") and not buckets.allow("a")
    buckets.allow("b")
    buckets.allow("c")  # a is the least recently used: forgotten (a fresh burst next time)
    assert buckets.allow("a") and buckets.allow("a")


async def test_a_database_outage_is_a_503_not_a_500(world: World) -> None:
    store = memory_store(world.db)

    async def unreachable(_: str) -> None:
        raise ServerSelectionTimeoutError("no server")

    store.site = unreachable  # type: ignore[method-assign]
    app = create_app(
        Settings(service="capture"), store=store, directory=world.directory, config=world.config
    )
    body = forwarded({"k": "s_site", "t": "view", "v": "visitor-0001", "u": "https://a.example/"})
    async with running_app(app) as http:
        answer = await http.post(contract.TRACKING_COLLECT_PATH, content=body, headers=signed(body))
    assert answer.status_code == 503 and answer.headers["retry-after"]
    assert answer.json()["error"]["code"] == "SERVICE_UNAVAILABLE"

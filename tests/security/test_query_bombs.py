"""Queries built to exhaust the gateway or a subgraph: refused at once with the limit they
pass, while other clients are served meanwhile. Budgets are generous (seconds); the
attacks they guard against took minutes or froze the gateway outright."""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
import pytest

from crm_kit.assertions import KeyRing
from crm_kit.context import RequestContext
from crm_kit.graphql_http import ASSERTION_HEADER, subgraph_audience

from ..conftest import Stack
from .conftest import Tenant, gql

pytestmark = pytest.mark.e2e

BUDGET_SECONDS = 5.0
NORMAL = "{ pipelines { id } }"


def fragment_bomb(levels: int, leaf: str, on: str = "Query") -> str:
    """Under a kilobyte; 2^levels selections of `leaf` once its fragments are expanded."""
    frags = "".join(f"fragment F{i} on {on} {{ ...F{i + 1} ...F{i + 1} }} " for i in range(levels))
    return frags + f"fragment F{levels} on {on} {{ {leaf} }}"


BOMBS = {
    "aliased-fragments": (
        "{ ...F0 } " + fragment_bomb(25, "t: __typename"),
        "MAX_ALIASES_EXCEEDED",
    ),
    "scalar-fragments": (
        "{ contacts(first: 1) { edges { node { ...F0 } } } } "
        + fragment_bomb(25, "id firstName", on="Contact"),
        "MAX_FIELDS_EXCEEDED",
    ),
    "page-size": (
        "{ contacts(first: 1000000) { edges { node { id company { name } } } } }",
        "COST_LIMIT_EXCEEDED",
    ),
    "nested-pages": (
        "{ companies(first: 200) { edges { node { contacts(first: 200) { edges { node {"
        " interactions(first: 200) { edges { node { id } } } } } } } } } }",
        "COST_LIMIT_EXCEEDED",
    ),
    "aliases": (
        "{ " + " ".join(f"a{i}: pipelines {{ id }}" for i in range(100)) + " }",
        "MAX_ALIASES_EXCEEDED",
    ),
    "depth": (
        "{ deals(first: 1) { edges { node { company { deals(first: 1) { edges { node {"
        " company { deals(first: 1) { edges { node { company { deals(first: 1) { edges {"
        " node { id } } } } } } } } } } } } } } } }",
        "MAX_DEPTH_EXCEEDED",
    ),
}


@pytest.mark.parametrize("bomb", sorted(BOMBS))
async def test_bombs_are_refused_while_others_are_served(
    stack: Stack, http: httpx.AsyncClient, tenant: Tenant, bomb: str
) -> None:
    query, code = BOMBS[bomb]
    started = time.monotonic()
    refused, served = await asyncio.gather(
        http.post(stack.gateway_url, json={"query": query}, headers=tenant.headers),
        gql(http, stack.gateway_url, NORMAL, tenant.headers),
    )
    elapsed = time.monotonic() - started
    assert refused.status_code == 400, refused.text
    assert refused.json()["errors"][0]["extensions"]["code"] == code
    assert "data" not in refused.json()
    assert "errors" not in served and isinstance(served["data"]["pipelines"], list)
    assert elapsed < BUDGET_SECONDS


async def test_subgraphs_hold_their_own_limits(
    stack: Stack, http: httpx.AsyncClient, tenant: Tenant
) -> None:
    """Defence in depth: even with a genuine gateway assertion (say, a gateway that lost its
    own limits), a subgraph refuses what passes its limits."""
    gateway = KeyRing.from_env("gateway")
    caller = RequestContext(tenant.workspace, "mallory", frozenset({"admin"}))
    query = "{ " + " ".join(f"a{i}: pipelines {{ id }}" for i in range(100)) + " }"
    body = orjson.dumps({"query": query})
    token = gateway.mint(audience=subgraph_audience("deals"), context=caller, body=body)
    refused = await http.post(
        stack.service_urls["deals"],
        content=body,
        headers={"content-type": "application/json", ASSERTION_HEADER: token},
    )
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["code"] == "MAX_ALIASES_EXCEEDED"

"""A subgraph reached directly, around the gateway: whatever the caller presents short of
the gateway's own assertion for this subgraph and this exact body, it is refused (401)
before a resolver runs, and nothing changes."""

from __future__ import annotations

import tempfile
from pathlib import Path
from uuid import uuid4

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crm_kit.assertions import KeyRing
from crm_kit.context import RequestContext
from crm_kit.graphql_http import ASSERTION_HEADER, subgraph_audience

from ..conftest import Stack
from .conftest import Tenant, gql

pytestmark = pytest.mark.e2e

# Per service: a change an attacker would like to make, and how to see whether it was made.
CHANGES = {
    "contacts": (
        "mutation($n: String!) { createCompany(input: {name: $n}) { id } }",
        "query($n: String) { companies(filter: {text: $n}) { totalCount } }",
        lambda data, _name: data["companies"]["totalCount"],
    ),
    "deals": (
        "mutation($n: String!) { createPipeline(input: {name: $n, stages: "
        '[{key: "a", name: "A", probability: 10}]}) { id } }',
        "{ pipelines { name } }",
        lambda data, name: sum(p["name"] == name for p in data["pipelines"]),
    ),
    "tasks": (
        "mutation($n: String!) { createTask(input: {title: $n}) { id } }",
        "{ myTasks { title } }",
        lambda data, name: sum(t["title"] == name for t in data["myTasks"]),
    ),
    "capture": (
        "mutation($n: String!) { updateCaptureSettings(input: {excludedDomains: [$n]}) "
        "{ excludedDomains } }",
        "{ captureSettings { excludedDomains } }",
        lambda data, name: sum(d == name for d in data["captureSettings"]["excludedDomains"]),
    ),
}
OTHER = {"contacts": "deals", "deals": "tasks", "tasks": "capture", "capture": "contacts"}
CREDENTIALS = (
    "nothing",
    "user-bearer-token",
    "workspace-header",
    "forged-assertion",
    "assertion-for-another-subgraph",
    "assertion-for-another-body",
)


def _credentials(kind: str, service: str, body: bytes, tenant: Tenant) -> dict[str, str]:
    caller = RequestContext(tenant.workspace, "mallory", frozenset({"admin"}))
    gateway = KeyRing.from_env("gateway")  # as if captured on its way to a subgraph
    if kind == "nothing":
        return {}
    if kind == "user-bearer-token":
        return tenant.headers
    if kind == "workspace-header":
        return {"crm-workspace": tenant.workspace, "x-workspace-id": tenant.workspace}
    if kind == "forged-assertion":
        with tempfile.TemporaryDirectory() as keys:
            forger = KeyRing("gateway", Ed25519PrivateKey.generate(), Path(keys))
            token = forger.mint(audience=subgraph_audience(service), context=caller, body=body)
    elif kind == "assertion-for-another-subgraph":
        token = gateway.mint(audience=subgraph_audience(OTHER[service]), context=caller, body=body)
    else:
        harmless = b'{"query":"{ __typename }"}'
        token = gateway.mint(audience=subgraph_audience(service), context=caller, body=harmless)
    return {ASSERTION_HEADER: token}


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("service", sorted(CHANGES))
async def test_direct_calls_without_the_gateways_assertion_are_refused(
    stack: Stack, http: httpx.AsyncClient, tenant: Tenant, service: str, credential: str
) -> None:
    mutation, check, count = CHANGES[service]
    name = f"direct-{uuid4().hex[:8]}.example"  # a domain too (capture's change)
    body = orjson.dumps({"query": mutation, "variables": {"n": name}})
    headers = {
        "content-type": "application/json",
        **_credentials(credential, service, body, tenant),
    }

    refused = await http.post(stack.service_urls[service], content=body, headers=headers)

    assert refused.status_code == 401, refused.text
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "data" not in refused.json()
    seen = await gql(http, stack.gateway_url, check, tenant.headers, n=name)
    assert count(seen["data"], name) == 0


async def test_a_browser_get_at_a_subgraph_is_refused_not_a_500(
    stack: Stack, http: httpx.AsyncClient, tenant: Tenant
) -> None:
    for url in stack.service_urls.values():
        response = await http.get(
            url,
            params={"query": "{ __typename }"},
            headers={"accept": "text/html", **tenant.headers},
        )
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("service", ["contacts", "capture"])
async def test_the_same_change_through_the_gateway_is_made_once(
    stack: Stack, http: httpx.AsyncClient, tenant: Tenant, service: str
) -> None:
    """The control: the refusals above are about the route, not the change."""
    mutation, check, count = CHANGES[service]
    name = f"via-gateway-{uuid4().hex[:8]}.example"
    made = await gql(http, stack.gateway_url, mutation, tenant.headers, n=name)
    assert "errors" not in made, made
    seen = await gql(http, stack.gateway_url, check, tenant.headers, n=name)
    assert count(seen["data"], name) == 1


async def test_the_tracking_endpoints_refuse_anything_but_the_gateway(
    stack: Stack, http: httpx.AsyncClient, tenant: Tenant
) -> None:
    """Capture's tracking endpoints trust what the gateway says of the browser (its
    address, Do-Not-Track): reached around the gateway, they refuse."""
    base = stack.service_urls["capture"].removesuffix("/graphql")
    hit = orjson.dumps({"browser": {"ip": "203.0.113.1"}, "body": '{"k": "s_x", "t": "view"}'})
    for headers in ({}, tenant.headers, {"x-forwarded-for": "127.0.0.1"}):
        for path in ("/track/collect", "/track/snippet.js"):
            refused = await http.post(f"{base}{path}", content=hit, headers=headers)
            assert refused.status_code == 401, (path, headers, refused.text)

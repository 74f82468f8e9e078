"""Rate limits per token and per address (429 with Retry-After and the IETF RateLimit
fields), and an address that keeps presenting bad tokens slowed, then locked out. Against a
gateway of the suite's own with small limits; each test speaks from an address of its own
(X-Forwarded-For, trusted from the test runner only)."""

from __future__ import annotations

from uuid import uuid4

import httpx
import pytest

from crm_kit.auth import issue_token

from ..conftest import Stack
from .conftest import ADDRESS_BURST, LOCK_AFTER, TOKEN_BURST, Tenant, gql

pytestmark = pytest.mark.e2e

CREATE = "mutation($n: String!) { createCompany(input: {name: $n}) { id } }"
FIND = "query($n: String) { companies(filter: {text: $n}) { totalCount } }"


def _address() -> str:
    """An address of the test's own (10.0.0.0/8: never a real client here)."""
    octets = uuid4().bytes[:3]
    return "10." + ".".join(str(o) for o in octets)


def _from(address: str, token: str) -> dict[str, str]:
    return {"x-forwarded-for": address, "authorization": f"Bearer {token}"}


async def test_one_token_is_limited_and_nothing_past_the_limit_happens(
    stack: Stack, guarded_gateway: str, http: httpx.AsyncClient, tenant: Tenant
) -> None:
    names = [f"burst-{uuid4().hex[:8]}" for _ in range(TOKEN_BURST + 1)]
    answers = [
        await http.post(
            guarded_gateway,
            json={"query": CREATE, "variables": {"n": name}},
            headers=_from(_address(), tenant.token),  # a new address each time
        )
        for name in names
    ]
    assert [a.status_code for a in answers] == [200] * TOKEN_BURST + [429]
    limited = answers[-1]
    assert limited.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert int(limited.headers["retry-after"]) >= 1
    assert f'"per-token";q={TOKEN_BURST};' in limited.headers["ratelimit-policy"]
    assert '"per-token";r=0;' in limited.headers["ratelimit"]
    assert f'"per-token";r={TOKEN_BURST - 1};' in answers[0].headers["ratelimit"]
    refused = await gql(http, stack.gateway_url, FIND, tenant.headers, n=names[-1])
    assert refused["data"]["companies"]["totalCount"] == 0
    made = await gql(http, stack.gateway_url, FIND, tenant.headers, n=names[0])
    assert made["data"]["companies"]["totalCount"] == 1


async def test_one_address_is_limited_whatever_tokens_it_uses(
    guarded_gateway: str, http: httpx.AsyncClient, tenant: Tenant
) -> None:
    address = _address()
    codes = []
    for i in range(ADDRESS_BURST + 1):
        token = issue_token(tenant.workspace, f"user{i}", ["viewer"])
        response = await http.post(
            guarded_gateway, json={"query": "{ pipelines { id } }"}, headers=_from(address, token)
        )
        codes.append(response.status_code)
    assert codes == [200] * ADDRESS_BURST + [429]
    assert '"per-ip";r=0;' in response.headers["ratelimit"]
    other = await http.post(
        guarded_gateway,
        json={"query": "{ pipelines { id } }"},
        headers=_from(_address(), issue_token(tenant.workspace, "someone", ["viewer"])),
    )
    assert other.status_code == 200


async def test_an_address_guessing_tokens_is_slowed_then_locked_out(
    guarded_gateway: str, http: httpx.AsyncClient, tenant: Tenant
) -> None:
    address = _address()
    guesses = [
        await http.post(
            guarded_gateway,
            json={"query": "{ pipelines { id } }"},
            headers=_from(address, f"guess.{i}.token"),
        )
        for i in range(LOCK_AFTER + 1)
    ]
    assert [g.status_code for g in guesses] == [401] * LOCK_AFTER + [429]
    assert guesses[-1].json()["errors"][0]["extensions"]["code"] == "TOO_MANY_REQUESTS"
    # Locked out means locked out: a valid token from that address waits too ...
    locked = await http.post(
        guarded_gateway,
        json={"query": "{ pipelines { id } }"},
        headers=_from(address, tenant.token),
    )
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
    # ... while other addresses are not affected.
    elsewhere = await http.post(
        guarded_gateway,
        json={"query": "{ pipelines { id } }"},
        headers=_from(_address(), issue_token(tenant.workspace, "alice", ["viewer"])),
    )
    assert elsewhere.status_code == 200

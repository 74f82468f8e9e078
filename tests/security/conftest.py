"""The security suite: attacks on the running stack (`tests/conftest.py`), as a client on
the same network would make them.

Most attacks go to the stack's gateway and subgraphs as they run. Rate limits and the
bad-token lockout need a gateway of their own, with small limits and the test runner
trusted as a proxy (`GATEWAY_TRUSTED_PROXIES`), so each test can speak from an address of
its own (X-Forwarded-For) without throttling the other tests.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx
import pytest

from crm_kit.auth import issue_token
from crm_kit.devstack import free_port, spawn, wait_http_ok
from crm_kit.paths import REPO_ROOT

from ..conftest import Stack

# What the guarded gateway allows (small, so a test reaches each limit in a few requests).
TOKEN_BURST = 5
ADDRESS_BURST = 12
LOCK_AFTER = 5
REFILL_PER_SECOND = "0.001"


@pytest.fixture(scope="session")
def guarded_gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {
        **stack.env,
        "GATEWAY_PORT": str(port),
        "GATEWAY_TRUSTED_PROXIES": "127.0.0.1",
        # Buckets that barely refill (one request per ~17 min): a test's burst is refused
        # at its count however slowly a loaded machine serves the requests before it.
        "GATEWAY_RATE_PER_TOKEN": REFILL_PER_SECOND,
        "GATEWAY_BURST_PER_TOKEN": str(TOKEN_BURST),
        "GATEWAY_RATE_PER_IP": REFILL_PER_SECOND,
        "GATEWAY_BURST_PER_IP": str(ADDRESS_BURST),
        "GATEWAY_AUTH_SLOW_AFTER": "2",
        "GATEWAY_AUTH_LOCK_AFTER": str(LOCK_AFTER),
    }
    log = tmp_path_factory.mktemp("security") / "guarded-gateway.log"
    process = spawn([sys.executable, "-m", "crm_gateway"], log, env=env, cwd=REPO_ROOT)
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/health", process, log, 60.0)
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        process.terminate()
        process.wait(10)


@dataclass
class Tenant:
    """A workspace of the test's own and its admin's bearer token."""

    workspace: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


@pytest.fixture
def tenant() -> Tenant:
    workspace = f"sec-{uuid4().hex[:10]}"
    return Tenant(workspace, issue_token(workspace, "mallory", ["admin"]))


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30.0) as client:
        yield client


async def gql(
    http: httpx.AsyncClient, url: str, query: str, headers: dict[str, str], **variables: Any
) -> dict[str, Any]:
    response = await http.post(url, json={"query": query, "variables": variables}, headers=headers)
    return response.json()

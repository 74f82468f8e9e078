"""Failures as a client and an orchestrator meet them, against real servers.

- The gateway never re-sends a mutation: a fault proxy between the gateway and a real
  contacts service lets the service act and answer, then drops the connection before the
  answer reaches the gateway. One record exists, and the client is told the change may
  have been applied (not to blindly repeat it).
- A database outage: the service's `/ready` fails, requests fail fast with
  SERVICE_UNAVAILABLE (retryable), the gateway answers 503 with Retry-After, and all of it
  recovers when the database is back. A NATS outage leaves the service ready (degraded),
  and writes still succeed. Each outage is a real FerretDB or NATS stopped by the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
import uvicorn
from pymongo import AsyncMongoClient
from starlette.applications import Starlette

from crm_contacts.app import create_app as create_contacts_app
from crm_gateway.app import create_app as create_gateway_app
from crm_gateway.config import GatewaySettings
from crm_kit.auth import issue_token
from crm_kit.devstack import InfraStack, free_port, start_ferretdb, start_nats
from crm_kit.paths import REPO_ROOT
from crm_kit.settings import Settings
from crm_kit.testing import eventually, gateway_auth, running_app

pytestmark = pytest.mark.integration

SUPERGRAPH = (REPO_ROOT / "gateway" / "supergraph.graphql").read_text()
CREATE = "mutation($name: String!) { createCompany(input: {name: $name}) { id name } }"
COUNT = "{ companies(first: 1) { totalCount } }"
MODERN = "application/graphql-response+json"


@contextlib.asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[int]:
    """The app under uvicorn on a free local port, in this event loop."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        if task.done():
            task.result()  # raises what stopped it
        return server.started

    await eventually(started, timeout=30, what="the app is serving")
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def _read_message(reader: asyncio.StreamReader) -> bytes | None:
    """One HTTP/1.1 message framed by Content-Length (what uvicorn and the gateway send)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


class FaultProxy:
    """A TCP proxy in front of a subgraph. With `drop_after_answer` it forwards a request,
    lets the subgraph act and answer, reads the answer, and closes the gateway's
    connection without passing it on."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.drop_after_answer = False
        self.requests = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/graphql"

    async def _handle(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        upstream, to_upstream = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            while (request := await _read_message(client)) is not None:
                self.requests += 1
                to_upstream.write(request)
                await to_upstream.drain()
                answer = await _read_message(upstream)
                if answer is None or self.drop_after_answer:
                    break
                to_client.write(answer)
                await to_client.drain()
        finally:
            to_upstream.close()
            to_client.close()

    async def __aenter__(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


def _gateway(contacts_url: str) -> Starlette:
    unreachable = f"http://127.0.0.1:{free_port()}/graphql"
    settings = GatewaySettings(
        subgraph_urls={"contacts": contacts_url, "deals": unreachable, "tasks": unreachable},
        ready_cache_seconds=0,
    )
    return create_gateway_app(settings, supergraph_sdl=SUPERGRAPH)


def _as_admin(workspace: str, **headers: str) -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token(workspace, 'alice', ['admin'])}", **headers}


def _contacts(mongodb_uri: str, nats_url: str, database: str) -> Starlette:
    return create_contacts_app(
        Settings(
            service="contacts",
            mongodb_uri=mongodb_uri,
            database=database,
            nats_url=nats_url,
            outbox_sweep_seconds=0.2,
        )
    )


async def test_the_gateway_never_sends_a_mutation_twice(infra: Any, db_name: str) -> None:
    workspace = f"w-{uuid4().hex[:8]}"
    name = f"Once {uuid4().hex[:8]}"
    contacts = _contacts(infra.mongodb_uri, infra.nats_url, db_name)
    async with (
        serving(contacts) as port,
        FaultProxy(port) as proxy,
        running_app(_gateway(proxy.url)) as gw,
    ):
        # A query first: the gateway now holds a pooled connection through the proxy,
        # the kind its transport used to retry on when it broke.
        warm = await gw.post("/graphql", json={"query": COUNT}, headers=_as_admin(workspace))
        assert "errors" not in warm.json(), warm.json()
        proxy.drop_after_answer = True
        lost = await gw.post(
            "/graphql",
            json={"query": CREATE, "variables": {"name": name}},
            headers=_as_admin(workspace, accept=MODERN),
        )
        lost_query = await gw.post(
            "/graphql", json={"query": COUNT}, headers=_as_admin(workspace, accept=MODERN)
        )
    assert proxy.requests == 3  # the warm-up, the mutation once, the query once
    # The change may have been applied: 502, not retryable, and it says so.
    assert lost.status_code == 502 and "retry-after" not in lost.headers
    error = lost.json()["errors"][0]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert error["extensions"]["retryable"] is False
    assert "may or may not have been applied" in error["message"]
    # A query lost the same way is safe to repeat.
    assert lost_query.status_code == 503 and lost_query.headers["retry-after"] == "1"
    assert lost_query.json()["errors"][0]["extensions"]["retryable"] is True
    client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_uri)
    try:
        made = await client[db_name]["companies"].count_documents({"name": name})
    finally:
        await client.close()
    assert made == 1


# --- outages ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_infra() -> Iterator[InfraStack]:
    """A FerretDB and a NATS of this module's own: the tests stop and start them."""
    with tempfile.TemporaryDirectory(prefix="crm-outage-") as tmp:
        stack = InfraStack(Path(tmp), free_port(), free_port()).start()
        try:
            yield stack
        finally:
            stack.stop()


def _restart(stack: InfraStack, name: str) -> None:
    for server in list(stack.servers):
        if server.name == name:
            server.stop()
            stack.servers.remove(server)
    if name == "ferretdb":
        stack.servers.append(start_ferretdb(stack.data_dir / "ferretdb", stack.mongo_port))
    else:
        stack.servers.append(start_nats(stack.data_dir / "nats", stack.nats_port))


def _stop(stack: InfraStack, name: str) -> None:
    for server in stack.servers:
        if server.name == name:
            server.stop()


async def test_a_database_outage_fails_fast_and_says_retry(
    own_infra: InfraStack, db_name: str
) -> None:
    workspace = f"w-{uuid4().hex[:8]}"
    contacts = _contacts(own_infra.mongodb_uri, own_infra.nats_url, db_name)
    as_gateway = gateway_auth("contacts", workspace)
    async with serving(contacts) as port:
        base = f"http://127.0.0.1:{port}"
        async with (
            httpx.AsyncClient(base_url=base, timeout=30) as http,
            running_app(_gateway(f"{base}/graphql")) as gw,
        ):
            assert (await http.get("/ready")).json()["status"] == "ready"
            assert (await gw.get("/ready")).json()["subgraphs"]["contacts"] is True
            _stop(own_infra, "ferretdb")
            try:
                timed: list[float] = []

                async def timing(call: Any) -> httpx.Response:
                    started = time.monotonic()
                    response = await call
                    timed.append(time.monotonic() - started)
                    return response

                ready = await timing(http.get("/ready"))
                direct = await timing(http.post("/graphql", json={"query": COUNT}, auth=as_gateway))
                via_gateway = await timing(
                    gw.post(
                        "/graphql",
                        json={"query": COUNT},
                        headers=_as_admin(workspace, accept=MODERN),
                    )
                )
                legacy = await timing(
                    gw.post("/graphql", json={"query": COUNT}, headers=_as_admin(workspace))
                )
                gateway_ready = await gw.get("/ready")
                health = await http.get("/health")
            finally:
                _restart(own_infra, "ferretdb")

            async def recovered() -> bool:
                r = await gw.post("/graphql", json={"query": COUNT}, headers=_as_admin(workspace))
                return r.status_code == 200 and "errors" not in r.json()

            await eventually(recovered, timeout=30, what="queries succeed again")
            assert (await http.get("/ready")).status_code == 200
    # A figure, not an assertion (tests assert behaviour): each answer takes about the
    # driver's server-selection timeout (MONGODB_TIMEOUT_MS), not five seconds.
    print("\n  answers during the database outage: " + ", ".join(f"{t:.2f} s" for t in timed))
    assert ready.status_code == 503
    assert ready.json()["checks"]["mongo"] is False and ready.json()["status"] == "unavailable"
    assert health.status_code == 200  # liveness never depends on the database
    error = direct.json()["errors"][0]
    assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE", "retryable": True}
    assert via_gateway.status_code == 503 and via_gateway.headers["retry-after"] == "1"
    assert via_gateway.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert "data" not in via_gateway.json()
    assert legacy.status_code == 200 and legacy.json()["data"] is None
    assert gateway_ready.status_code == 503
    assert gateway_ready.json()["subgraphs"]["contacts"] is False


async def test_a_nats_outage_leaves_the_service_ready_and_writing(
    own_infra: InfraStack, db_name: str
) -> None:
    workspace = f"w-{uuid4().hex[:8]}"
    contacts = _contacts(own_infra.mongodb_uri, own_infra.nats_url, db_name)
    as_gateway = gateway_auth("contacts", workspace)
    async with running_app(contacts) as http:
        _stop(own_infra, "nats")
        try:

            async def disconnected() -> bool:
                return not contacts.state.runtime.nc.is_connected

            await eventually(disconnected, timeout=10, what="the service sees NATS gone")
            ready = await http.get("/ready")
            made = await http.post(
                "/graphql",
                json={"query": CREATE, "variables": {"name": "During the NATS outage"}},
                auth=as_gateway,
            )
        finally:
            _restart(own_infra, "nats")

        async def reconnected() -> bool:
            return (await http.get("/ready")).json()["status"] == "ready"

        await eventually(reconnected, timeout=30, what="NATS is back")
    assert ready.status_code == 200
    assert ready.json() == {
        "ready": True,
        "status": "degraded",
        "checks": {"mongo": True, "nats": False},
    }
    assert made.json()["data"]["createCompany"]["name"] == "During the NATS outage"

"""Whatever bytes a client sends, the answer is a 4xx with a GraphQL error naming what was
wrong, never a 500: at the gateway and at each subgraph (there with a genuine assertion, so
the request gets past the gate to the parsing). Oversized bodies are refused before they
are read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest

from crm_kit.assertions import KeyRing
from crm_kit.context import RequestContext
from crm_kit.graphql_http import ASSERTION_HEADER, subgraph_audience
from crm_kit.testing import MALFORMED_REQUESTS

from ..conftest import Stack
from .conftest import Tenant

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(("content", "content_type", "field"), MALFORMED_REQUESTS)
async def test_malformed_requests_get_400_at_the_gateway(
    stack: Stack,
    http: httpx.AsyncClient,
    tenant: Tenant,
    content: bytes,
    content_type: str,
    field: str,
) -> None:
    response = await http.post(
        stack.gateway_url,
        content=content,
        headers={**tenant.headers, "content-type": content_type},
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_REQUEST", "field": field}


@pytest.mark.parametrize("service", ["contacts", "deals", "tasks", "capture"])
async def test_malformed_requests_get_400_at_the_subgraphs(
    stack: Stack, http: httpx.AsyncClient, tenant: Tenant, service: str
) -> None:
    gateway = KeyRing.from_env("gateway")
    caller = RequestContext(tenant.workspace, "mallory", frozenset({"admin"}))
    for content, content_type, field in MALFORMED_REQUESTS:
        token = gateway.mint(audience=subgraph_audience(service), context=caller, body=content)
        response = await http.post(
            stack.service_urls[service],
            content=content,
            headers={"content-type": content_type, ASSERTION_HEADER: token},
        )
        assert response.status_code == 400, (content, response.text)
        assert response.json()["errors"][0]["extensions"] == {
            "code": "BAD_REQUEST",
            "field": field,
        }


async def test_bad_variables_and_parameters_are_400(
    stack: Stack, http: httpx.AsyncClient, tenant: Tenant
) -> None:
    typed = "query($id: ID!, $n: Int) { deal(id: $id) { id } contacts(first: $n) { totalCount } }"
    cases = [
        ({"query": typed, "variables": {"id": "x", "n": "many"}}, "BAD_USER_INPUT"),
        ({"query": typed, "variables": {}}, "BAD_USER_INPUT"),
        ({"query": "{ pipelines { id } }", "operationName": "Nope"}, "BAD_REQUEST"),
        ({"query": "{ pipelines { "}, "GRAPHQL_PARSE_FAILED"),
        ({"query": "{ nothingHere }"}, "GRAPHQL_VALIDATION_FAILED"),
        ({"query": ""}, "BAD_REQUEST"),
    ]
    for body, code in cases:
        response = await http.post(stack.gateway_url, json=body, headers=tenant.headers)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["errors"][0]["extensions"]["code"] == code
    bad_json = await http.get(
        stack.gateway_url,
        params={"query": "{ pipelines { id } }", "variables": "{oops"},
        headers=tenant.headers,
    )
    assert bad_json.status_code == 400
    assert bad_json.json()["errors"][0]["extensions"]["field"] == "variables"


async def _declared_hundred_megabytes(url: str, headers: dict[str, str]) -> bytes:
    """Send only the head of a 100 MB request (and the first 64 KB of its body), then read
    whatever the server answers: a server that waited for the whole body would not answer."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Content-Type: application/json\r\nContent-Length: 104857600\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            + "\r\n"
        )
        writer.write(head.encode() + b"[" + b" " * 65535)
        await writer.drain()
        async with asyncio.timeout(10):
            return await reader.readline()
    finally:
        writer.close()


async def test_a_100_megabyte_body_is_refused_before_it_is_read(
    stack: Stack, http: httpx.AsyncClient, tenant: Tenant
) -> None:
    for url, headers in [
        (stack.gateway_url, tenant.headers),
        # (with a header in the assertion's place: without one it is a 401, also unread)
        (stack.service_urls["deals"], {ASSERTION_HEADER: "unchecked-yet"}),
    ]:
        status_line = await _declared_hundred_megabytes(url, headers)
        assert status_line.split()[1] == b"413", status_line

    async def spaces() -> AsyncIterator[bytes]:  # 2.6 MB, no length declared
        for _ in range(40):
            yield b" " * 65536

    chunked = await http.post(
        stack.gateway_url,
        content=spaces(),
        headers={**tenant.headers, "content-type": "application/json"},
    )
    assert chunked.status_code == 413
    assert chunked.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    still = await http.post(
        stack.gateway_url, json={"query": "{ pipelines { id } }"}, headers=tenant.headers
    )
    assert "errors" not in still.json() and still.json()["data"]["pipelines"] is not None

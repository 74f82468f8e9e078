"""HTTP to the subgraphs: one pooled client, orjson bodies, failures named by subgraph."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from crm_gateway.lean_transport import LeanTransport

# Headers a subgraph needs to see as the client sent them (identity, tracing).
FORWARDED_HEADERS = ("authorization", "traceparent", "tracestate", "x-request-id")


class SubgraphFailure(Exception):
    """A subgraph could not answer (down, timeout, non-GraphQL response)."""

    def __init__(self, service: str, code: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.code = code
        self.reason = reason

    def to_error(self) -> dict[str, Any]:
        return {
            "message": f"Subgraph '{self.service}' failed: {self.reason}",
            "extensions": {"code": self.code, "serviceName": self.service},
        }


FetchObserver = Callable[[str, float, bool], None]


class SubgraphClient:
    """Sends GraphQL operations to subgraphs by their join__Graph name."""

    def __init__(
        self,
        urls: dict[str, str],
        names: dict[str, str],
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        observer: FetchObserver | None = None,
        max_connections: int = 32,
    ) -> None:
        self.urls = urls
        self.names = names
        self.timeout = timeout
        self.observer = observer
        # One pooled client per subgraph: httpcore scans every pooled connection on each
        # request, so a pool per host keeps that scan short.
        lean = {graph: LeanTransport(max_idle_per_host=max_connections) for graph in urls}
        self._clients = {
            graph: httpx.AsyncClient(
                timeout=httpx.Timeout(timeout),
                limits=httpx.Limits(
                    max_connections=max_connections, max_keepalive_connections=max_connections
                ),
                transport=transport or lean[graph],
                # Environment proxies must never capture calls to local subgraphs.
                trust_env=False,
            )
            for graph in urls
        }
        # Plain-http subgraphs skip httpx's request/response models on the hot path (an
        # injected transport, as in tests, always goes through httpx).
        self._direct = (
            {g: lean[g] for g, u in urls.items() if u.startswith("http://")}
            if transport is None
            else {}
        )

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def send(
        self,
        graph: str,
        query: str,
        variables: dict[str, Any] | None,
        headers: dict[str, str],
    ) -> dict[str, Any]:
        name = self.names.get(graph, graph)
        url = self.urls[graph]
        body: dict[str, Any] = {"query": query}
        if variables:
            body["variables"] = variables
        out_headers = {"content-type": "application/json", "accept": "application/json"}
        out_headers.update(headers)
        start = time.perf_counter()
        ok = False
        try:
            # One deadline for the whole exchange (connect, send, wait, read).
            async with asyncio.timeout(self.timeout):
                direct = self._direct.get(graph)
                if direct is not None:
                    status, content = await direct.post(url, out_headers, orjson.dumps(body))
                else:
                    resp = await self._clients[graph].post(
                        url, content=orjson.dumps(body), headers=out_headers
                    )
                    status, content = resp.status_code, resp.content
            try:
                result = orjson.loads(content)
            except orjson.JSONDecodeError:
                raise SubgraphFailure(
                    name, "SUBGRAPH_BAD_RESPONSE", f"HTTP {status}, not JSON"
                ) from None
            if not isinstance(result, dict) or ("data" not in result and "errors" not in result):
                raise SubgraphFailure(
                    name, "SUBGRAPH_BAD_RESPONSE", f"HTTP {status}, not a GraphQL body"
                )
            ok = True
            return result
        except (httpx.TimeoutException, TimeoutError):
            raise SubgraphFailure(name, "SUBGRAPH_TIMEOUT", "timed out") from None
        except httpx.HTTPError as exc:
            raise SubgraphFailure(name, "SUBGRAPH_UNAVAILABLE", type(exc).__name__) from None
        finally:
            if self.observer is not None:
                self.observer(name, time.perf_counter() - start, ok)

    async def reachable(self, graph: str, timeout: float = 2.0) -> bool:
        """A subgraph is ready when it answers `{ __typename }`."""
        try:
            resp = await self._clients[graph].post(
                self.urls[graph],
                content=b'{"query":"{ __typename }"}',
                headers={"content-type": "application/json", "accept": "application/json"},
                timeout=timeout,
            )
            body = orjson.loads(resp.content)
            # A subgraph that refuses an anonymous probe still answers GraphQL: it is up.
            return (
                resp.status_code < 500
                and isinstance(body, dict)
                and ("data" in body or "errors" in body)
            )
        except (httpx.HTTPError, orjson.JSONDecodeError):
            return False

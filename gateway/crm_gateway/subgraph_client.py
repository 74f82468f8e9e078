"""HTTP to the subgraphs: one pooled client, orjson bodies, each request signed for its
subgraph, failures named by subgraph and said in terms a client can act on.

Failure codes (`extensions.code`, with `serviceName` and `retryable`):
- SERVICE_UNAVAILABLE, retryable: the subgraph could not be reached (nothing was sent: no
  connection within GATEWAY_SUBGRAPH_CONNECT_TIMEOUT, 1 s), or a query's connection broke.
- SERVICE_UNAVAILABLE, not retryable: a mutation's connection broke after it was sent. The
  subgraph may have applied it; it is never re-sent (by us or, unwittingly, by the client).
  Retryable when the mutation carries an `Idempotency-Key`: the client's repeat with the
  same key gets the stored result or completes the change once (`crm_kit.idempotency`).
- SERVICE_UNAVAILABLE, retryable, "overloaded": the fetch waited GATEWAY_SUBGRAPH_QUEUE_TIMEOUT
  (5 s) for one of the subgraph's in-flight slots without getting one. Nothing was sent, so
  a mutation is as safe to repeat as a query: the subgraph is shedding load, not failing.
- SUBGRAPH_TIMEOUT: no answer within GATEWAY_SUBGRAPH_TIMEOUT (its wait for a slot included);
  retryable for a query, or a mutation with an idempotency key.
- SUBGRAPH_BAD_RESPONSE / SUBGRAPH_AUTH_FAILED: not a GraphQL answer / the subgraph refused
  the gateway's assertion (a key configuration error, not the client's).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

from crm_gateway.identity import SubgraphSigner
from crm_gateway.lean_transport import IDEMPOTENT, LeanTransport
from crm_kit.idempotency import HEADER as IDEMPOTENCY_HEADER
from crm_kit.telemetry import active as tracing_active
from crm_kit.telemetry import instrument_http_client

# Headers a subgraph needs to see as the client sent them (tracing, idempotency). The
# caller's token is not among them: the subgraph gets the gateway's assertion instead.
FORWARDED_HEADERS = ("traceparent", "tracestate", "x-request-id", "idempotency-key")


class SubgraphFailure(Exception):
    """A subgraph could not answer (down, timeout, non-GraphQL response)."""

    def __init__(
        self, service: str, code: str, reason: str, *, retryable: bool | None = None
    ) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.code = code
        self.reason = reason
        self.retryable = retryable

    def to_error(self) -> dict[str, Any]:
        extensions: dict[str, Any] = {"code": self.code, "serviceName": self.service}
        if self.retryable is not None:
            extensions["retryable"] = self.retryable
        return {
            "message": f"Subgraph '{self.service}' failed: {self.reason}",
            "extensions": extensions,
        }


FetchObserver = Callable[[str, float, bool], None]


def is_mutation(operation: str) -> bool:
    """Planned subgraph operations start with their keyword (`mutation ...`)."""
    return operation.lstrip().startswith("mutation")


def _unsure(mutation: bool, repeatable: bool) -> str:
    """What a client should do about a mutation whose fate is unknown."""
    if not mutation:
        return ""
    if repeatable:
        return "; repeat it with the same Idempotency-Key to complete it once"
    return "; it may or may not have been applied, so check before repeating it"


def _ready_url(graphql_url: str) -> str:
    parts = urlsplit(graphql_url)
    base = parts.path.rsplit("/", 1)[0]
    return urlunsplit((parts.scheme, parts.netloc, f"{base}/ready", "", ""))


class SubgraphClient:
    """Sends GraphQL operations to subgraphs by their join__Graph name."""

    def __init__(
        self,
        urls: dict[str, str],
        names: dict[str, str],
        *,
        timeout: float = 10.0,
        connect_timeout: float = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
        observer: FetchObserver | None = None,
        signer: SubgraphSigner | None = None,
        max_connections: int = 32,
        ready_cache_seconds: float = 2.0,
        queue_timeout: float = 5.0,
    ) -> None:
        self.urls = urls
        self.names = names
        self.timeout = timeout
        # The longest a fetch waits for an in-flight slot before it is shed (within
        # `timeout`, which counts the wait too).
        self.queue_timeout = min(queue_timeout, timeout)
        self.connect_timeout = connect_timeout
        self.observer = observer
        self.signer = signer
        self.ready_cache_seconds = ready_cache_seconds
        self._ready: dict[str, tuple[bool, float]] = {}
        self._ready_probes: dict[str, asyncio.Task[bool]] = {}
        # At most `max_connections` requests in flight per subgraph; the rest wait here
        # (within their deadline, and at most `queue_timeout`: a subgraph whose queue
        # holds fetches that long is answering fewer than arrive, and a fetch shed
        # unsent is a clear, safe-to-repeat answer where one that waited out its whole
        # deadline was a timeout, for a mutation an "unsure" one although it was never
        # sent). The direct transport opens a connection per concurrent
        # request and keeps `max_connections` idle, so without this bound a burst of 200
        # clients closed and re-opened connections beyond that on every round, and the
        # re-connects under load ran into the 1 s connect timeout (SERVICE_UNAVAILABLE);
        # a subgraph's one event loop answers no faster for more concurrent requests.
        self._in_flight = {graph: asyncio.Semaphore(max_connections) for graph in urls}
        # One pooled client per subgraph: httpcore scans every pooled connection on each
        # request, so a pool per host keeps that scan short.
        lean = {
            graph: LeanTransport(max_idle_per_host=max_connections, connect_timeout=connect_timeout)
            for graph in urls
        }
        self._clients = {
            graph: httpx.AsyncClient(
                timeout=httpx.Timeout(timeout, connect=connect_timeout),
                limits=httpx.Limits(
                    max_connections=max_connections, max_keepalive_connections=max_connections
                ),
                transport=transport or lean[graph],
                # Environment proxies must never capture calls to local subgraphs.
                trust_env=False,
            )
            for graph in urls
        }
        for client in self._clients.values():
            instrument_http_client(client)  # client spans, when tracing is on
        # Plain-http subgraphs skip httpx's request/response models on the hot path (an
        # injected transport, as in tests, always goes through httpx; so does every fetch
        # while tracing is on, for the httpx instrumentation's client spans).
        self._direct = (
            {g: lean[g] for g, u in urls.items() if u.startswith("http://")}
            if transport is None and not tracing_active()
            else {}
        )

    async def aclose(self) -> None:
        for task in self._ready_probes.values():
            task.cancel()
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
        payload: dict[str, Any] = {"query": query}
        if variables:
            payload["variables"] = variables
        body = orjson.dumps(payload)
        out_headers = {"content-type": "application/json", "accept": "application/json"}
        out_headers.update(headers)
        if self.signer is not None:
            out_headers.update(self.signer.headers(name, body, out_headers))
        mutation = is_mutation(query)
        # A repeat of a keyed mutation is safe: the subgraph answers it from the key.
        repeatable = not mutation or IDEMPOTENCY_HEADER in headers
        start = time.perf_counter()
        ok = False
        slots = self._in_flight[graph]
        try:
            await self._take_slot(name, slots)
        except SubgraphFailure:
            if self.observer is not None:
                self.observer(name, time.perf_counter() - start, False)
            raise
        try:
            # One deadline for the whole exchange (the wait for a slot, connect, send, wait,
            # read).
            remaining = self.timeout - (time.perf_counter() - start)
            async with asyncio.timeout(remaining):
                direct = self._direct.get(graph)
                if direct is not None:
                    status, content = await direct.post(
                        url, out_headers, body, idempotent=not mutation
                    )
                else:
                    resp = await self._clients[graph].post(
                        url,
                        content=body,
                        headers=out_headers,
                        extensions={IDEMPOTENT: not mutation},
                    )
                    status, content = resp.status_code, resp.content
            result = self._graphql_body(name, status, content)
            ok = True
            return result
        except (httpx.ConnectError, httpx.ConnectTimeout):
            raise SubgraphFailure(
                name, "SERVICE_UNAVAILABLE", "unreachable; retry shortly", retryable=True
            ) from None
        except (httpx.TimeoutException, TimeoutError):
            raise SubgraphFailure(
                name,
                "SUBGRAPH_TIMEOUT",
                "no answer in time" + _unsure(mutation, repeatable),
                retryable=repeatable,
            ) from None
        except httpx.HTTPError as exc:
            if mutation:
                raise SubgraphFailure(
                    name,
                    "SERVICE_UNAVAILABLE",
                    "the connection broke after the change was sent" + _unsure(True, repeatable),
                    retryable=repeatable,
                ) from None
            raise SubgraphFailure(
                name,
                "SERVICE_UNAVAILABLE",
                f"connection failed ({type(exc).__name__})",
                retryable=True,
            ) from None
        finally:
            slots.release()
            if self.observer is not None:
                self.observer(name, time.perf_counter() - start, ok)

    async def _take_slot(self, name: str, slots: asyncio.Semaphore) -> None:
        """One of the subgraph's in-flight slots, or SERVICE_UNAVAILABLE (retryable: nothing
        was sent) after waiting `queue_timeout` for one."""
        if not slots.locked():
            await slots.acquire()  # free: no timer to arm
            return
        try:
            async with asyncio.timeout(self.queue_timeout):
                await slots.acquire()
        except TimeoutError:
            raise SubgraphFailure(
                name,
                "SERVICE_UNAVAILABLE",
                f"overloaded (no slot free within {self.queue_timeout:g} s); nothing was "
                "sent, retry shortly",
                retryable=True,
            ) from None

    @staticmethod
    def _graphql_body(name: str, status: int, content: bytes) -> dict[str, Any]:
        if status == 401:
            raise SubgraphFailure(
                name, "SUBGRAPH_AUTH_FAILED", "refused the gateway's assertion (key configuration)"
            )
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
        return result

    async def ready(self, graph: str, timeout: float = 1.0) -> bool:
        """Whether the subgraph's `/ready` says it can serve. Cached for
        `ready_cache_seconds`, and one probe at a time per subgraph, so a flood of readiness
        checks costs the subgraphs nothing extra."""
        now = time.monotonic()
        cached = self._ready.get(graph)
        if cached is not None and cached[1] > now:
            return cached[0]
        probe = self._ready_probes.get(graph)
        if probe is None:
            probe = asyncio.ensure_future(self._probe(graph, timeout))
            self._ready_probes[graph] = probe
            probe.add_done_callback(lambda _: self._ready_probes.pop(graph, None))
        return await asyncio.shield(probe)

    async def _probe(self, graph: str, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                resp = await self._clients[graph].get(_ready_url(self.urls[graph]))
            ok = resp.status_code == 200
        except (httpx.HTTPError, TimeoutError):
            ok = False
        self._ready[graph] = (ok, time.monotonic() + self.ready_cache_seconds)
        return ok

"""The public tracking door: browsers on customers' sites load the tracking snippet from
`GET /t/s.js` and send its reports to `POST /t/c`. The gateway is the platform's only
public HTTP door, so these two routes live here; they need no token (a browser on a
customer's site has none) and are forwarded to the capture service, which owns them.

Each forwarded request carries the gateway's internal assertion (issuer `gateway`,
audience `tracking:capture`, bound to the forwarded body), and its body says what the
gateway saw of the browser (its address, user agent, Do-Not-Track / Global Privacy
Control, origin) beside the browser's own body, so the capture service trusts nothing a
browser could forge about itself and refuses anything that did not come through here.
The assertion is signed with the gateway's own key ring (the one that signs its subgraph
requests) and the browser's address is the one the gateway's rate limits key on
(`admission.client_address`: a trusted proxy's X-Forwarded-For, else the peer). Bounded: a
report's body (`MAX_REPORT_BYTES`, else 413), the time capture may take, and requests per
browser address (`per_ip`, 429 with `Retry-After` before anything is signed or forwarded,
so a flood of made-up site keys never reaches capture); the capture service limits per
site and per site and address besides.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm_contracts import capture as contract
from crm_contracts.streams import RPC_HEADER_ASSERTION
from crm_gateway.admission import RateLimiter, client_address, ratelimit_headers
from crm_gateway.gateway import Gateway
from crm_gateway.metrics import Metrics
from crm_kit import telemetry
from crm_kit.assertions import KeyRing
from crm_kit.context import RequestContext

log = logging.getLogger("crm_gateway")

MAX_REPORT_BYTES = 4096
TIMEOUT_SECONDS = 5.0
# Who a forwarded browser request acts for: nobody signed in, in no workspace (the capture
# service finds the workspace from the site key).
ANONYMOUS = RequestContext("public", "anonymous:browser", frozenset())
# Browsers on any site may load the snippet and send reports (never with credentials).
OPEN = {"access-control-allow-origin": "*", "cross-origin-resource-policy": "cross-origin"}
SNIPPET_ROUTE = "/t/s.js"
COLLECT_ROUTE = "/t/c"
TRACKING_ROUTES = (SNIPPET_ROUTE, COLLECT_ROUTE)


def _status(code: int, message: str) -> Response:
    body = orjson.dumps({"error": {"message": message}})
    return Response(body, code, OPEN, media_type="application/json")


class TrackingProxy:
    def __init__(
        self,
        capture_url: str | None,
        keys: Callable[[], KeyRing],
        transport: httpx.AsyncBaseTransport | None = None,
        per_ip: RateLimiter | None = None,
    ) -> None:
        """`keys`: the gateway's key ring, asked for on the first forwarded request (a
        gateway without a capture subgraph never signs one)."""
        self.capture_url = capture_url.rstrip("/") if capture_url else None
        self._keys = keys
        self._per_ip = per_ip
        self._client = httpx.AsyncClient(timeout=TIMEOUT_SECONDS, transport=transport)
        telemetry.instrument_http_client(self._client)

    @classmethod
    def for_gateway(
        cls,
        gateway: Gateway,
        keys: Callable[[], KeyRing],
        transport: httpx.AsyncBaseTransport | None = None,
        per_ip: RateLimiter | None = None,
    ) -> TrackingProxy:
        """Forwarding to the capture subgraph's host (its URL in the supergraph, or
        `SUBGRAPH_CAPTURE_URL`, without the /graphql path), through the gateway's transport
        when it has one (tests); without a capture subgraph the routes answer 404."""
        by_name = {gateway.supergraph.name_of(g): url for g, url in gateway.client.urls.items()}
        url = by_name.get("capture")
        return cls(url.removesuffix("/graphql") if url else None, keys, transport, per_ip)

    def _refused(self, request: Request) -> Response | None:
        """The 429 for an address over its budget; None when it may go on."""
        if self._per_ip is None or not self._per_ip.enabled:
            return None
        decision = self._per_ip.take(client_address(request))
        if decision.allowed:
            return None
        Metrics.rejected("rate_limited", self._per_ip.policy)
        headers = {**ratelimit_headers([decision]), "Retry-After": str(decision.retry_after)}
        body = orjson.dumps({"error": {"message": "too many tracking requests; retry later"}})
        return Response(body, 429, {**OPEN, **headers}, media_type="application/json")

    @property
    def routes(self) -> list[Route]:
        return [
            Route(SNIPPET_ROUTE, self.snippet, methods=["GET"]),
            Route(COLLECT_ROUTE, self.collect, methods=["POST"]),
        ]

    async def _forward(self, request: Request, path: str, body: bytes) -> httpx.Response:
        dnt = request.headers.get("dnt") == "1" or request.headers.get("sec-gpc") == "1"
        browser = contract.BrowserInfo(
            ip=client_address(request),
            user_agent=request.headers.get("user-agent"),
            do_not_track=dnt,
            origin=request.headers.get("origin"),
            referer=request.headers.get("referer"),
        )
        forwarded = contract.ForwardedHit(browser=browser, body=body.decode("utf-8", "replace"))
        payload = orjson.dumps(forwarded.wire())
        token = self._keys().mint(
            audience=contract.TRACKING_AUDIENCE, context=ANONYMOUS, body=payload
        )
        headers = {RPC_HEADER_ASSERTION: token, "content-type": "application/json"}
        telemetry.inject(headers)  # capture's log lines name the same trace
        return await self._client.post(
            f"{self.capture_url}{path}", content=payload, headers=headers
        )

    async def snippet(self, request: Request) -> Response:
        if self.capture_url is None:
            return _status(404, "tracking is not set up")
        if (refused := self._refused(request)) is not None:
            return refused
        try:
            answer = await self._forward(request, contract.TRACKING_SNIPPET_PATH, b"")
        except httpx.HTTPError:
            return _status(503, "tracking is unavailable")
        headers = {**OPEN, "cache-control": answer.headers.get("cache-control", "no-store")}
        return Response(
            answer.content, answer.status_code, headers, media_type="application/javascript"
        )

    async def collect(self, request: Request) -> Response:
        if self.capture_url is None:
            return _status(404, "tracking is not set up")
        if (refused := self._refused(request)) is not None:
            return refused
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_REPORT_BYTES):
            return _status(413, f"a report has at most {MAX_REPORT_BYTES} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_REPORT_BYTES:
                return _status(413, f"a report has at most {MAX_REPORT_BYTES} bytes")
        try:
            answer = await self._forward(request, contract.TRACKING_COLLECT_PATH, body)
        except httpx.HTTPError:
            log.warning("tracking report not forwarded: capture unreachable")
            return _status(503, "tracking is unavailable")
        media = answer.headers.get("content-type") if answer.content else None
        return Response(answer.content, answer.status_code, OPEN, media_type=media)

    async def aclose(self) -> None:
        await self._client.aclose()

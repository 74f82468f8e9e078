"""The tracking endpoints, reached only through the gateway (`gateway/crm_gateway/
tracking_proxy.py` forwards browsers' requests to `/t/s.js` and `/t/c`):

- `GET /track/snippet.js`: the tracking snippet (under 2 KB, cached by browsers);
- `POST /track/collect`: one report of the snippet (a page view, the time a page was
  visible, a form's email), answered 204 whether it was recorded or dropped (a browser
  learns nothing from the answer), 400 for a malformed report, 404 for an unknown site,
  429 beyond the rate limits, 503 (with Retry-After) while the database cannot be reached;
  counted in `crm_inbound_total{door="tracking"}`.

Each request carries the gateway's internal assertion (`crm-assertion`: issuer `gateway`,
audience `tracking:capture`, bound to the forwarded body), whose body is a
`ForwardedHit`: what the gateway saw of the browser (address, user agent, Do-Not-Track)
and the browser's own body. Anything else is refused with 401.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from pymongo.errors import ConnectionFailure
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crm_contracts import capture as contract
from crm_contracts.streams import RPC_HEADER_ASSERTION
from crm_kit import telemetry
from crm_kit.assertions import AssertionError_, KeyRing
from crm_kit.errors import BadUserInput
from crm_kit.metrics import count_inbound

from ..config import SERVICE, CaptureConfig
from ..usecases import visits
from ..usecases.inputs import Browser, Hit
from ..usecases.routing import Routes
from .rate_limits import TokenBuckets

log = logging.getLogger(__name__)

SNIPPET = (Path(__file__).parent / "snippet.js").read_bytes()
MAX_BODY = 8_000  # a forwarded report (the snippet's are a few hundred bytes)
GATEWAY = "gateway"


def _error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status)


# Seconds a browser (or the gateway) is asked to wait while the database is unreachable.
RETRY_AFTER_SECONDS = 5


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _hit(report: dict[str, Any]) -> Hit:
    seconds = report.get("d")
    return Hit(
        kind=str(report.get("t") or ""),
        visitor=str(report.get("v") or ""),
        url=str(report.get("u") or ""),
        title=_text(report.get("ti"), 500),
        referrer=_text(report.get("r"), 2000),
        seconds=seconds if isinstance(seconds, int) and not isinstance(seconds, bool) else None,
        email=_text(report.get("e"), 320),
        consent=report.get("c") is True,
        webdriver=report.get("w") is True,
    )


class TrackingEndpoints:
    def __init__(self, routes: Routes | None, keys: KeyRing | None, config: CaptureConfig):
        # Both set once the runtime started (the app's routes exist before).
        self.routes = routes
        self.keys = keys
        self.per_ip = TokenBuckets(
            config.track_per_ip_per_minute / 60, config.track_per_ip_per_minute
        )
        self.per_site = TokenBuckets(
            config.track_per_site_per_second, config.track_per_site_per_second
        )

    def _forwarded(self, request: Request, body: bytes) -> contract.ForwardedHit | Response:
        if self.keys is None or self.routes is None:
            return _error(503, "UNAVAILABLE", "starting")
        try:
            self.keys.verify(
                request.headers.get(RPC_HEADER_ASSERTION),
                audience=contract.TRACKING_AUDIENCE,
                issuers={GATEWAY},
                body=body,
            )
        except AssertionError_ as error:
            return _error(401, "UNAUTHENTICATED", error.message)
        try:
            return contract.ForwardedHit.model_validate_json(body)
        except ValidationError:
            return _error(400, "BAD_REQUEST", "not a forwarded hit")

    async def snippet(self, request: Request) -> Response:
        forwarded = self._forwarded(request, await request.body())
        if isinstance(forwarded, Response):
            return forwarded
        headers = {"cache-control": "public, max-age=3600", "x-content-type-options": "nosniff"}
        return Response(SNIPPET, media_type="application/javascript", headers=headers)

    async def collect(self, request: Request) -> Response:
        # In the gateway's trace: the log lines of this report name the same trace id.
        with telemetry.continued(request.headers):
            return await self._counted(request)

    async def _counted(self, request: Request) -> Response:
        try:
            answer = await self._collect(request)
        except ConnectionFailure as failure:
            # A clear answer instead of a 500; the snippet sends by beacon and does not
            # retry, so this page view is lost (visits are signals, not records of account).
            log.warning("tracking report not recorded: database unavailable: %s", failure)
            answer = _error(503, "SERVICE_UNAVAILABLE", "the database is unavailable; retry")
            answer.headers["retry-after"] = str(RETRY_AFTER_SECONDS)
        status = answer.status_code
        outcome = "accepted" if status < 400 else "refused" if status < 500 else "failed"
        count_inbound(SERVICE, "tracking", outcome)
        return answer

    async def _collect(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(413, "TOO_LARGE", f"at most {MAX_BODY} bytes")
        forwarded = self._forwarded(request, body)
        if isinstance(forwarded, Response):
            return forwarded
        try:
            report = orjson.loads(forwarded.body)
        except orjson.JSONDecodeError:
            return _error(400, "BAD_REQUEST", "the report is not JSON")
        if not isinstance(report, dict) or not isinstance(report.get("k"), str):
            return _error(400, "BAD_REQUEST", "the report names no site", "k")
        assert self.routes is not None  # checked by _forwarded
        site = await self.routes.site(report["k"][:64])
        if site is None:
            return _error(404, "NOT_FOUND", "no such site", "k")
        browser = forwarded.browser
        if not self.per_site.allow(site.id) or not self.per_ip.allow(f"{site.id}|{browser.ip}"):
            return _error(429, "RATE_LIMITED", "too many reports; slow down")
        scope = self.routes.service_scope(site.workspace_id)
        seen = Browser(
            ip=browser.ip,
            user_agent=browser.user_agent,
            do_not_track=browser.do_not_track,
            origin=browser.origin,
        )
        try:
            await visits.record(scope, site, _hit(report), seen)
        except BadUserInput as error:
            return _error(400, "BAD_REQUEST", error.message, error.field)
        return Response(status_code=204)

    def routes_(self) -> list[Route]:
        return [
            Route(contract.TRACKING_SNIPPET_PATH, self.snippet, methods=["GET", "POST"]),
            Route(contract.TRACKING_COLLECT_PATH, self.collect, methods=["POST"]),
        ]

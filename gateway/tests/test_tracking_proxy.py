"""The tracking door: the gateway forwards browsers' snippet loads and reports to the
capture service, signed, with what it saw of the browser; it bounds a report's size and
answers for capture when capture cannot be reached."""

from __future__ import annotations

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from crm_contracts import capture as contract
from crm_contracts.streams import RPC_HEADER_ASSERTION
from crm_gateway.tracking_proxy import MAX_REPORT_BYTES, TrackingProxy
from crm_kit.assertions import KeyRing

SNIPPET = b"(function(){})();"


class FakeCapture:
    """The capture service's tracking endpoints as the proxy meets them: it verifies the
    gateway's assertion as the real one does."""

    def __init__(self) -> None:
        self.keys = KeyRing.from_env("capture")
        self.seen: list[contract.ForwardedHit] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.keys.verify(
            request.headers.get(RPC_HEADER_ASSERTION),
            audience=contract.TRACKING_AUDIENCE,
            issuers={"gateway"},
            body=request.content,
        )
        self.seen.append(contract.ForwardedHit.model_validate_json(request.content))
        if request.url.path == contract.TRACKING_SNIPPET_PATH:
            return httpx.Response(200, content=SNIPPET, headers={"cache-control": "max-age=60"})
        return httpx.Response(204)


def client_for(proxy: TrackingProxy) -> httpx.AsyncClient:
    app = Starlette(routes=proxy.routes)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5555))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway.test")


@pytest.fixture
def capture() -> FakeCapture:
    return FakeCapture()


@pytest.fixture
def proxy(capture: FakeCapture) -> TrackingProxy:
    return TrackingProxy("http://capture.test", transport=httpx.MockTransport(capture.handle))


async def test_reports_are_forwarded_signed_with_the_browser_the_gateway_saw(
    proxy: TrackingProxy, capture: FakeCapture
) -> None:
    report = orjson.dumps({"k": "s_site", "t": "view", "v": "visitor-1", "u": "https://a.example/"})
    async with client_for(proxy) as http:
        answer = await http.post(
            "/t/c",
            content=report,
            headers={"user-agent": "Mozilla/5.0", "dnt": "1", "origin": "https://a.example"},
        )
        snippet = await http.get("/t/s.js")
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == "*"
    forwarded = capture.seen[0]
    assert forwarded.body == report.decode()
    assert forwarded.browser.ip == "203.0.113.7"
    assert forwarded.browser.do_not_track and forwarded.browser.origin == "https://a.example"
    assert snippet.status_code == 200 and snippet.content == SNIPPET
    assert snippet.headers["content-type"].startswith("application/javascript")


async def test_an_oversized_report_is_refused_before_it_is_forwarded(
    proxy: TrackingProxy, capture: FakeCapture
) -> None:
    async with client_for(proxy) as http:
        answer = await http.post("/t/c", content=b"x" * (MAX_REPORT_BYTES + 1))
    assert answer.status_code == 413 and capture.seen == []


async def test_without_capture_the_door_answers_for_it() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    down = TrackingProxy("http://capture.test", transport=httpx.MockTransport(unreachable))
    async with client_for(down) as http:
        assert (await http.post("/t/c", content=b"{}")).status_code == 503
    async with client_for(TrackingProxy(None)) as http:
        assert (await http.get("/t/s.js")).status_code == 404

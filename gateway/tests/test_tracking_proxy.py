"""The tracking door: the gateway forwards browsers' snippet loads and reports to the
capture service, signed with the gateway's own key ring, with what it saw of the browser
(the address its rate limits key on: a trusted proxy's X-Forwarded-For, else the peer); it
bounds a report's size and answers for capture when capture cannot be reached."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from crm_contracts import capture as contract
from crm_contracts.streams import RPC_HEADER_ASSERTION
from crm_gateway.app import create_app
from crm_gateway.config import GatewaySettings
from crm_gateway.tracking_proxy import MAX_REPORT_BYTES, TrackingProxy
from crm_kit.assertions import AssertionError_, KeyRing

SNIPPET = b"(function(){})();"
BROWSER = "203.0.113.7"
PROXY = "10.0.0.1"
PLATFORM_SUPERGRAPH = Path(__file__).parents[1] / "supergraph.graphql"


class FakeCapture:
    """The capture service's tracking endpoints as the proxy meets them: it verifies the
    gateway's assertion against the gateway's public key, as the real one does."""

    def __init__(self, gateway_keys: KeyRing, public_keys: Path) -> None:
        public_keys.mkdir()
        (public_keys / "gateway.pub").write_bytes(gateway_keys.public_key_pem())
        self.keys = KeyRing("capture", Ed25519PrivateKey.generate(), public_keys)
        self.seen: list[contract.ForwardedHit] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        try:
            self.keys.verify(
                request.headers.get(RPC_HEADER_ASSERTION),
                audience=contract.TRACKING_AUDIENCE,
                issuers={"gateway"},
                body=request.content,
            )
        except AssertionError_:
            return httpx.Response(401)
        self.seen.append(contract.ForwardedHit.model_validate_json(request.content))
        if request.url.path == contract.TRACKING_SNIPPET_PATH:
            return httpx.Response(200, content=SNIPPET, headers={"cache-control": "max-age=60"})
        return httpx.Response(204)


def client_for(app: ASGIApp, peer: str = BROWSER) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 5555))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway.test")


@pytest.fixture
def gateway_keys(tmp_path: Path) -> KeyRing:
    return KeyRing("gateway", Ed25519PrivateKey.generate(), tmp_path)


@pytest.fixture
def capture(gateway_keys: KeyRing, tmp_path: Path) -> FakeCapture:
    return FakeCapture(gateway_keys, tmp_path / "capture-trusts")


@pytest.fixture
def proxy(capture: FakeCapture, gateway_keys: KeyRing) -> TrackingProxy:
    return TrackingProxy(
        "http://capture.test", lambda: gateway_keys, transport=httpx.MockTransport(capture.handle)
    )


def routes(proxy: TrackingProxy) -> Starlette:
    return Starlette(routes=proxy.routes)


async def test_reports_are_forwarded_signed_with_the_browser_the_gateway_saw(
    proxy: TrackingProxy, capture: FakeCapture
) -> None:
    report = orjson.dumps({"k": "s_site", "t": "view", "v": "visitor-1", "u": "https://a.example/"})
    async with client_for(routes(proxy)) as http:
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
    assert forwarded.browser.ip == BROWSER
    assert forwarded.browser.do_not_track and forwarded.browser.origin == "https://a.example"
    assert snippet.status_code == 200 and snippet.content == SNIPPET
    assert snippet.headers["content-type"].startswith("application/javascript")


async def test_the_browser_address_is_the_one_the_gateway_trusts(
    proxy: TrackingProxy, capture: FakeCapture
) -> None:
    """Behind the gateway's trusted proxies the address is the client they name, as for
    the rate limits; anyone else's X-Forwarded-For is ignored."""
    settings = GatewaySettings.from_env({"GATEWAY_TRUSTED_PROXIES": PROXY})
    # What `python -m crm_gateway` puts in front of the app for these settings.
    served = ProxyHeadersMiddleware(routes(proxy), trusted_hosts=list(settings.trusted_proxies))
    spoofed = {"x-forwarded-for": "198.51.100.9"}
    async with client_for(served, peer=PROXY) as http:
        assert (await http.post("/t/c", content=b"{}", headers=spoofed)).status_code == 204
    async with client_for(served, peer=BROWSER) as http:
        assert (await http.post("/t/c", content=b"{}", headers=spoofed)).status_code == 204
    assert [hit.browser.ip for hit in capture.seen] == ["198.51.100.9", BROWSER]


async def test_the_gateway_app_signs_tracking_reports_with_its_own_key_ring(
    capture: FakeCapture, gateway_keys: KeyRing
) -> None:
    app = create_app(
        GatewaySettings.from_env({"SUBGRAPH_CAPTURE_URL": "http://capture.test/graphql"}),
        supergraph_sdl=PLATFORM_SUPERGRAPH.read_text(),
        auth=False,
        transport=httpx.MockTransport(capture.handle),
        keyring=gateway_keys,
    )
    async with client_for(app) as http:
        answer = await http.post("/t/c", content=b'{"k": "s_site"}')
    # Verified against `gateway_keys` only: a key ring of the gateway's own making would fail.
    assert answer.status_code == 204 and capture.seen[0].body == '{"k": "s_site"}'


async def test_an_oversized_report_is_refused_before_it_is_forwarded(
    proxy: TrackingProxy, capture: FakeCapture
) -> None:
    async with client_for(routes(proxy)) as http:
        answer = await http.post("/t/c", content=b"x" * (MAX_REPORT_BYTES + 1))
    assert answer.status_code == 413 and capture.seen == []


async def test_without_capture_the_door_answers_for_it(gateway_keys: KeyRing) -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    down = TrackingProxy(
        "http://capture.test", lambda: gateway_keys, transport=httpx.MockTransport(unreachable)
    )
    async with client_for(routes(down)) as http:
        assert (await http.post("/t/c", content=b"{}")).status_code == 503

    def never(_: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing is forwarded without a capture subgraph")

    absent = TrackingProxy(None, lambda: gateway_keys, transport=httpx.MockTransport(never))
    async with client_for(routes(absent)) as http:
        assert (await http.get("/t/s.js")).status_code == 404


async def test_an_address_over_its_budget_is_refused_before_anything_is_signed(
    capture: FakeCapture, gateway_keys: KeyRing
) -> None:
    # The gateway app's own limiter, from its settings: a burst of 3, no refill to speak of.
    app = create_app(
        GatewaySettings.from_env(
            {
                "SUBGRAPH_CAPTURE_URL": "http://capture.test/graphql",
                "GATEWAY_TRACKING_RATE_PER_IP": "0.001",
                "GATEWAY_TRACKING_BURST_PER_IP": "3",
            }
        ),
        supergraph_sdl=PLATFORM_SUPERGRAPH.read_text(),
        auth=False,
        transport=httpx.MockTransport(capture.handle),
        keyring=gateway_keys,
    )
    async with client_for(app) as http:
        answers = [await http.post("/t/c", content=b'{"k": "s_site"}') for _ in range(3)]
        answers.append(await http.get("/t/s.js"))
    async with client_for(app, peer="198.51.100.9") as other:
        elsewhere = await other.post("/t/c", content=b'{"k": "s_site"}')
    assert [a.status_code for a in answers] == [204, 204, 204, 429]
    refused = answers[-1]
    assert int(refused.headers["retry-after"]) > 0
    assert refused.headers["access-control-allow-origin"] == "*"  # a browser can read it
    assert "tracking-per-ip" in refused.headers["ratelimit-policy"]
    assert len(capture.seen) == 4  # three reports and the other address's; never the fourth
    assert elsewhere.status_code == 204  # one address's flood leaves the others alone

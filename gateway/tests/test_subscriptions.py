"""The gateway's subscription protocol without subgraphs answering: graphql-transport-ws
close codes and errors, limits, the split of a subscription's plan, and SSE refusals.
(Events through real subgraphs: tests/e2e/test_realtime.py.)"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from crm_gateway.app import create_app
from crm_gateway.config import GatewaySettings
from crm_gateway.plan import FlattenNode, iter_fetches
from crm_gateway.subscriptions.plan import split
from crm_gateway.subscriptions.registry import LiveSettings
from crm_kit.context import RequestContext

from .conftest import REPO

PROTOCOL = ["graphql-transport-ws"]
CHANGES = "subscription { dealChanged { kind deal { title company { name } } } }"


class Verifier:
    def verify(self, token: str) -> RequestContext:
        if token != "good":
            raise ValueError("bad token")
        return RequestContext("w1", "ann", frozenset({"admin"}))


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a subgraph stream pending)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


def _client(port: int, **live: Any) -> TestClient:
    urls = {
        n: f"http://127.0.0.1:{port}/graphql" for n in ("contacts", "deals", "tasks", "webhooks")
    }
    settings = GatewaySettings(subgraph_urls=urls, live=LiveSettings(**live), graphiql=False)
    sdl = (REPO / "gateway" / "supergraph.graphql").read_text()
    return TestClient(create_app(settings, supergraph_sdl=sdl, verifier=Verifier(), auth=True))


def _init(ws: Any, token: str = "good") -> None:
    ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})


def _closed_with(ws: Any) -> int:
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    return int(closed.value.code)


def test_the_protocol_refuses_what_it_must(silent_port: int) -> None:
    with _client(silent_port) as client:
        with client.websocket_connect("/graphql", subprotocols=["graphql-ws"]) as ws:
            assert _closed_with(ws) == 4406
        with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
            ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": CHANGES}})
            assert _closed_with(ws) == 4401
        with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
            _init(ws, "forged")
            assert _closed_with(ws) == 4403
        with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
            _init(ws)
            assert ws.receive_json() == {"type": "connection_ack"}
            _init(ws)
            assert _closed_with(ws) == 4429
        with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
            _init(ws)
            ws.receive_json()
            ws.send_text("not json")
            assert _closed_with(ws) == 4400


def test_queries_errors_limits_and_duplicate_ids_over_a_websocket(silent_port: int) -> None:
    client = _client(silent_port, max_subscriptions_per_connection=1)
    with client, client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        _init(ws)
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}
        ws.send_json({"id": "q", "type": "subscribe", "payload": {"query": "{ __typename }"}})
        assert ws.receive_json() == {
            "id": "q",
            "type": "next",
            "payload": {"data": {"__typename": "Query"}},
        }
        assert ws.receive_json() == {"id": "q", "type": "complete"}
        bad = "subscription { dealChanged { nope } }"
        ws.send_json({"id": "v", "type": "subscribe", "payload": {"query": bad}})
        refused = ws.receive_json()
        assert refused["type"] == "error"
        assert refused["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        ws.send_json({"id": "s1", "type": "subscribe", "payload": {"query": CHANGES}})
        ws.send_json({"id": "s2", "type": "subscribe", "payload": {"query": CHANGES}})
        limited = ws.receive_json()
        assert (limited["id"], limited["type"]) == ("s2", "error")
        assert limited["payload"][0]["extensions"] == {
            "code": "SUBSCRIPTION_LIMIT_EXCEEDED",
            "limit": "per_connection",
            "max": 1,
        }
        ws.send_json({"id": "s1", "type": "subscribe", "payload": {"query": CHANGES}})
        assert _closed_with(ws) == 4409


def test_sse_refusals_come_before_the_stream(silent_port: int) -> None:
    with _client(silent_port, max_subscriptions=0, max_subscriptions_per_caller=1) as client:
        sse = {"Accept": "text/event-stream", "Authorization": "Bearer good"}
        missing = client.post(
            "/graphql", json={"query": CHANGES}, headers={"Accept": "text/event-stream"}
        )
        assert missing.status_code == 401
        as_json = client.post(
            "/graphql", json={"query": CHANGES}, headers={"Authorization": "Bearer good"}
        )
        assert as_json.status_code == 406
        assert as_json.json()["errors"][0]["extensions"]["field"] == "accept"
        answered = client.post("/graphql", json={"query": "{ __typename }"}, headers=sse)
        assert answered.headers["content-type"].startswith("text/event-stream")
        assert 'data: {"data":{"__typename":"Query"}}' in answered.text
        assert answered.text.rstrip().endswith("event: complete\ndata:")


def test_a_subscription_plan_is_its_stream_then_entity_fetches(silent_port: int) -> None:
    with _client(silent_port) as client:
        gateway = client.app.state.gateway  # type: ignore[attr-defined]
        live = split(gateway.plan_for(CHANGES, None))
        assert live.source.service_name == "deals"
        assert live.source.operation_kind == "subscription"
        assert live.source.operation.startswith("subscription")
        assert isinstance(live.rest, FlattenNode)
        assert [f.service_name for f in iter_fetches(live.rest)] == ["contacts"]

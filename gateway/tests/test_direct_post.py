"""The subgraph hot path without httpx models: LeanTransport.post over a real local socket."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
import uvloop

from crm_gateway.lean_transport import LeanTransport
from crm_gateway.subgraph_client import SubgraphClient, SubgraphFailure

ANSWERS = [
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"data":{}}',
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"dat\r\n6\r\na":{}}\r\n0\r\n\r\n',
    b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n" + b'{"data":{}}',
]


class Recorder:
    """A bare HTTP/1.1 server: answers in turn from `answers`, records what it was sent."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.requests: list[bytes] = []
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            self.requests.append(head + await reader.readexactly(length))
            answer = self.answers[(len(self.requests) - 1) % len(self.answers)]
            writer.write(answer)
            await writer.drain()
            if b"Connection: close" in answer:
                writer.close()
                return


async def test_post_reuses_connections_reads_every_framing_and_sends_the_headers() -> None:
    rec = Recorder(ANSWERS)
    server = await asyncio.start_server(rec.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = LeanTransport()
    url = f"http://127.0.0.1:{port}/graphql"
    for _ in range(4):
        status, content = await transport.post(
            url, {"x-request-id": "r1"}, b'{"query":"{a}"}', idempotent=True
        )
        assert status == 200 and orjson.loads(content) == {"data": {}}
    await transport.aclose()
    server.close()
    await server.wait_closed()
    # Keep-alive, chunked, then "close" on the first connection; the fourth needs a new one.
    assert rec.connections == 2
    first = rec.requests[0]
    assert first.startswith(b"POST /graphql HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{port}".encode() in first
    assert b"x-request-id: r1\r\n" in first and first.endswith(b'{"query":"{a}"}')


async def test_post_reports_a_refused_connection_as_httpx_does() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(httpx.ConnectError):
        await LeanTransport().post(f"http://127.0.0.1:{port}/graphql", {}, b"{}", idempotent=True)


async def test_subgraph_client_takes_the_direct_path_for_plain_http() -> None:
    body = b'{"data":{"deal":{"id":"d1"}}}'
    # "close": nothing stays pooled, so once the server is gone the next call is refused.
    answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )
    rec = Recorder([answer])
    server = await asyncio.start_server(rec.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = SubgraphClient({"DEALS": f"http://127.0.0.1:{port}/graphql"}, {"DEALS": "deals"})
    try:
        result = await client.send("DEALS", "{ deal { id } }", {"v": 1}, {"traceparent": "t"})
        assert result == {"data": {"deal": {"id": "d1"}}}
        sent = rec.requests[0]
        assert b"content-type: application/json\r\n" in sent and b"traceparent: t\r\n" in sent
        assert orjson.loads(sent.split(b"\r\n\r\n", 1)[1]) == {
            "query": "{ deal { id } }",
            "variables": {"v": 1},
        }
        server.close()
        await server.wait_closed()
        with pytest.raises(SubgraphFailure) as failure:
            await client.send("DEALS", "{ deal { id } }", None, {})
        assert failure.value.code == "SERVICE_UNAVAILABLE"
    finally:
        await client.aclose()


async def test_a_burst_beyond_the_in_flight_bound_waits_and_reuses_the_connections() -> None:
    """20 concurrent fetches with at most 4 in flight: every one answered, over no more
    than 4 connections (without the bound: a connection each, most closed after use)."""
    in_flight = peak = 0
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal in_flight, peak, connections
        connections += 1
        body = b'{"data":{}}'
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.02)  # a subgraph busy for a while
            in_flight -= 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = SubgraphClient(
        {"DEALS": f"http://127.0.0.1:{port}/graphql"}, {"DEALS": "deals"}, max_connections=4
    )
    try:
        answers = await asyncio.gather(
            *(client.send("DEALS", "{ a }", None, {}) for _ in range(20))
        )
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
    assert answers == [{"data": {}}] * 20
    assert peak <= 4 and connections <= 4


class Scripted:
    """Reads one request, then sends `chunks` with a pause between each, then closes."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        for chunk in self.chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.close()


async def _post_once(chunks: list[bytes]) -> tuple[int, bytes]:
    server = await asyncio.start_server(Scripted(chunks).handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = LeanTransport()
    try:
        return await transport.post(
            f"http://127.0.0.1:{port}/graphql", {}, b'{"query":"{a}"}', idempotent=True
        )
    finally:
        await transport.aclose()
        server.close()
        await server.wait_closed()


async def test_a_response_split_anywhere_is_read_whole() -> None:
    answer = b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"data":{}}'
    chunks = [answer[i : i + 3] for i in range(0, len(answer), 3)]
    assert await _post_once(chunks) == (200, b'{"data":{}}')


async def test_a_body_without_framing_ends_when_the_server_closes() -> None:
    answer = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"data":{}}'
    assert await _post_once([answer]) == (200, b'{"data":{}}')


@pytest.mark.parametrize(
    "answer",
    [
        b'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"data":{}}',  # cut short
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"dat',  # chunk cut
        b"HTTP/1.1 200 OK\r\nContent-Le",  # headers cut
        b"not http at all\r\n\r\n",
    ],
    ids=["short-body", "short-chunk", "short-headers", "garbage"],
)
async def test_a_broken_response_is_a_protocol_error_never_a_retry(answer: bytes) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="after the request was sent"):
        await _post_once([answer])


def test_the_same_under_uvloop_as_the_gateway_serves() -> None:
    """uvicorn runs the gateway on uvloop, whose transports differ from asyncio's."""

    async def scenarios() -> None:
        await test_post_reuses_connections_reads_every_framing_and_sends_the_headers()
        await test_a_response_split_anywhere_is_read_whole()
        await test_a_body_without_framing_ends_when_the_server_closes()
        with pytest.raises(httpx.RemoteProtocolError):
            await _post_once([b'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"data":{}}'])

    uvloop.run(scenarios())


class Held:
    """Reads requests and answers each only when `release` is set (a subgraph that is busy
    for as long as the test says); counts what it was sent."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.arrived = asyncio.Event()
        self.received = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = b'{"data":{}}'
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            self.received += 1
            self.arrived.set()
            await self.release.wait()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()


async def test_a_fetch_that_gets_no_slot_in_time_is_shed_unsent_and_retryable() -> None:
    """With the subgraph's one slot taken, a mutation waiting past the queue bound is shed:
    SERVICE_UNAVAILABLE, retryable although it has no idempotency key (it was never sent),
    and the subgraph received nothing of it; the fetch holding the slot is answered."""
    held = Held()
    server = await asyncio.start_server(held.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    observed: list[tuple[str, bool]] = []
    client = SubgraphClient(
        {"DEALS": f"http://127.0.0.1:{port}/graphql"},
        {"DEALS": "deals"},
        max_connections=1,
        queue_timeout=0.05,
        observer=lambda name, _seconds, ok: observed.append((name, ok)),
    )
    try:
        first = asyncio.ensure_future(client.send("DEALS", "{ a }", None, {}))
        await held.arrived.wait()  # the first query holds the only slot
        with pytest.raises(SubgraphFailure) as shed:
            await client.send("DEALS", "mutation { moveDeal }", None, {})
        held.release.set()
        assert await first == {"data": {}}
        # The slot is free again: the next mutation is sent and answered.
        assert await client.send("DEALS", "mutation { moveDeal }", None, {}) == {"data": {}}
    finally:
        held.release.set()
        await client.aclose()
        server.close()
        await server.wait_closed()
    error = shed.value.to_error()
    assert error["extensions"] == {
        "code": "SERVICE_UNAVAILABLE",
        "serviceName": "deals",
        "retryable": True,
    }
    assert "overloaded" in error["message"] and "nothing was sent" in error["message"]
    assert held.received == 2  # the first query and the last mutation, never the shed one
    assert sorted(observed) == [("deals", False), ("deals", True), ("deals", True)]


async def test_a_sent_mutation_without_an_answer_is_still_a_timeout_that_may_have_applied() -> None:
    """The queue bound sheds only fetches not sent: one sent and not answered within the
    whole deadline is SUBGRAPH_TIMEOUT, not retryable without an idempotency key."""
    held = Held()
    server = await asyncio.start_server(held.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = SubgraphClient(
        {"DEALS": f"http://127.0.0.1:{port}/graphql"},
        {"DEALS": "deals"},
        timeout=0.1,
        queue_timeout=5.0,
    )
    try:
        with pytest.raises(SubgraphFailure) as failure:
            await client.send("DEALS", "mutation { moveDeal }", None, {})
    finally:
        held.release.set()
        await client.aclose()
        server.close()
        await server.wait_closed()
    assert failure.value.code == "SUBGRAPH_TIMEOUT" and failure.value.retryable is False
    assert held.received == 1
    assert client.queue_timeout == 0.1  # never beyond the whole deadline

"""The lean transport never sends a written request twice, and does not write to a pooled
connection the server has already closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from crm_gateway.lean_transport import IDEMPOTENT, LeanTransport
from crm_kit.testing import eventually

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"data":{}}'


class Server:
    """Answers the first `answered` requests of each connection, then reads the next one
    and closes without answering (as a subgraph that crashed after acting on it), or, with
    `close_after_answer`, closes right after answering (an idle timeout)."""

    def __init__(self, answered: int = 1, close_after_answer: bool = False) -> None:
        self.answered = answered
        self.close_after_answer = close_after_answer
        self.received = 0
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
                self.received += 1
                if served >= self.answered:
                    break  # acted on, never answered
                writer.write(OK)
                await writer.drain()
                served += 1
                if self.close_after_answer:
                    break
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


class Client:
    """One httpx client over the transport under test, as the gateway holds one (closing a
    client closes its transport, and with it the pool)."""

    def __init__(self, transport: LeanTransport) -> None:
        self.transport = transport
        self.http = httpx.AsyncClient(transport=transport)

    async def post(self, port: int, *, idempotent: bool) -> httpx.Response:
        return await self.http.post(
            f"http://127.0.0.1:{port}/graphql",
            content=b'{"query":"mutation { createDeal }"}',
            extensions={IDEMPOTENT: idempotent},
        )


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    made = Client(LeanTransport())
    async with made.http:
        yield made


@pytest.mark.parametrize("idempotent", [False, True], ids=["mutation", "query"])
async def test_a_request_lost_after_it_was_written_is_never_sent_again(
    client: Client, idempotent: bool
) -> None:
    async with Server(answered=1) as server:
        first = await client.post(server.port, idempotent=idempotent)
        assert first.status_code == 200
        # The pooled connection carries the next request; the server acts on it and drops
        # the connection before answering.
        with pytest.raises(httpx.RemoteProtocolError, match="after the request was sent"):
            await client.post(server.port, idempotent=idempotent)
    assert server.received == 2  # not 3: no retry on another connection
    assert server.connections == 1


async def test_a_pooled_connection_the_server_closed_is_not_written_to(client: Client) -> None:
    async with Server(close_after_answer=True) as server:
        assert (await client.post(server.port, idempotent=False)).status_code == 200

        async def closed_seen() -> bool:
            idle = client.transport._idle.get(("127.0.0.1", server.port)) or ()
            return bool(idle) and all(conn.ended for conn in idle)

        await eventually(closed_seen, timeout=5, what="the server's close reached the pool")
        # Even a mutation goes out: on a fresh connection, nothing having been written.
        assert (await client.post(server.port, idempotent=False)).status_code == 200
    assert server.received == 2 and server.connections == 2


async def test_connections_idle_too_long_are_not_reused() -> None:
    client = Client(LeanTransport(max_idle_seconds=0.0))
    async with client.http, Server(answered=5) as server:
        for _ in range(3):
            assert (await client.post(server.port, idempotent=True)).status_code == 200
    assert server.connections == 3


async def test_connect_failures_are_connect_errors(client: Client) -> None:
    async with Server() as server:
        port = server.port
    with pytest.raises(httpx.ConnectError):
        await client.post(port, idempotent=True)

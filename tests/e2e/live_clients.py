"""Subscribing through the gateway as a client does: graphql-transport-ws over a WebSocket
(the `websockets` client) and graphql-sse distinct connections (an httpx stream)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from crm_kit.sse import SSEParser

PROTOCOL = "graphql-transport-ws"


class WsClient:
    """One WebSocket connection; several subscriptions by id."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.closed: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def connect(cls, url: str, token: str | None, *, header: bool = False) -> WsClient:
        headers = {"Authorization": f"Bearer {token}"} if header and token else None
        ws = await connect(url, subprotocols=[PROTOCOL], additional_headers=headers)
        client = cls(ws)
        payload = {"authorization": f"Bearer {token}"} if token and not header else {}
        await ws.send(orjson.dumps({"type": "connection_init", "payload": payload}).decode())
        return client

    async def acknowledged(self, timeout: float = 10.0) -> dict[str, Any]:
        return await self.message("", timeout)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = orjson.loads(raw)
                key = str(message.get("id", "")) if message.get("type") != "connection_ack" else ""
                self.queues.setdefault(key, asyncio.Queue()).put_nowait(message)
        except ConnectionClosed:
            pass
        finally:
            rcvd = self.ws.close_code or 1006, self.ws.close_reason or ""
            if not self.closed.done():
                self.closed.set_result(rcvd)

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        sub_id = str(next(self.ids))
        self.queues.setdefault(sub_id, asyncio.Queue())
        payload = {"query": query, "variables": variables or {}}
        message = {"id": sub_id, "type": "subscribe", "payload": payload}
        await self.ws.send(orjson.dumps(message).decode())
        return sub_id

    async def message(self, sub_id: str, timeout: float = 20.0) -> dict[str, Any]:
        queue = self.queues.setdefault(sub_id, asyncio.Queue())
        return await asyncio.wait_for(queue.get(), timeout)

    async def next(self, sub_id: str, timeout: float = 20.0) -> dict[str, Any]:
        message = await self.message(sub_id, timeout)
        assert message["type"] == "next", message
        payload: dict[str, Any] = message["payload"]
        return payload

    async def complete(self, sub_id: str) -> None:
        await self.ws.send(orjson.dumps({"id": sub_id, "type": "complete"}).decode())

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        self.reader.cancel()


class SseClient:
    """One subscription over its own HTTP connection (graphql-sse distinct connections)."""

    def __init__(self) -> None:
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None))
        self.events: asyncio.Queue[tuple[str | None, Any]] = asyncio.Queue()
        self.status = 0
        self.body = b""
        self.task: asyncio.Task[None] | None = None
        self.opened = asyncio.Event()

    @classmethod
    async def subscribe(
        cls, url: str, token: str, query: str, variables: dict[str, Any] | None = None
    ) -> SseClient:
        client = cls()
        client.task = asyncio.ensure_future(client._run(url, token, query, variables or {}))
        await asyncio.wait_for(client.opened.wait(), 20.0)
        return client

    async def _run(self, url: str, token: str, query: str, variables: dict[str, Any]) -> None:
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        try:
            async with self.http.stream(
                "POST", url, json={"query": query, "variables": variables}, headers=headers
            ) as response:
                self.status = response.status_code
                if not response.headers.get("content-type", "").startswith("text/event-stream"):
                    self.body = await response.aread()
                    return
                self.opened.set()
                parser = SSEParser()
                async for chunk in response.aiter_bytes():
                    for event in parser.feed(chunk):
                        self.events.put_nowait((event.event, event.json()))
        finally:
            self.opened.set()
            self.events.put_nowait((None, None))

    async def next(self, timeout: float = 20.0) -> dict[str, Any]:
        kind, data = await asyncio.wait_for(self.events.get(), timeout)
        assert kind == "next", (kind, data, self.body)
        found: dict[str, Any] = data
        return found

    async def event(self, timeout: float = 20.0) -> tuple[str | None, Any]:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task
        await self.http.aclose()


class WebhookReceiver:
    """A receiver of the test's own on 127.0.0.1: answers each request with the next status
    of `answers` (then 200), and keeps what it received."""

    def __init__(self, answers: list[int]) -> None:
        self.answers = list(answers)
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hooks"

    async def start(self) -> WebhookReceiver:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while await reader.readline():  # the request line; none: the client is done
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status = self.answers.pop(0) if self.answers else 200
                self.received.append((headers, body, status))
                writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n".encode())
                await writer.drain()
        writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()

"""Tests of a service's subscriptions: subscribe to a subgraph app in process (ASGI), signed
as the gateway signs, and read its live transport's events (`crm_kit.live_http`).

    stream = await LiveStream.open(app, "contacts", "subscription { interactionLogged { id } }")
    ...  # cause an event
    result = await stream.result()  # the next `event: next`, as JSON
    await stream.close()
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from starlette.types import ASGIApp, Message

from .context import RequestContext
from .graphql_http import ASSERTION_HEADER, subgraph_audience
from .sse import SSEEvent, SSEParser
from .testing import _gateway_keys


class LiveStream:
    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""  # a non-stream answer (an error before the stream opened)
        self.position: int | None = None  # the last position the stream reported
        self._events: asyncio.Queue[SSEEvent | None] = asyncio.Queue()
        self._parser = SSEParser()
        self._started = asyncio.Event()
        self._disconnect = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.ended = False

    @classmethod
    async def open(
        cls,
        app: ASGIApp,
        service: str,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        workspace: str = "w1",
        subject: str = "alice",
        roles: str = "admin",
        resume_after: int | None = None,
        ttl_seconds: int = 60,
        accept: str = "text/event-stream",
    ) -> LiveStream:
        payload: dict[str, Any] = {"query": query, "variables": variables or {}}
        if resume_after is not None:
            payload["extensions"] = {"resumeAfter": resume_after}
        body = orjson.dumps(payload)
        caller = RequestContext(workspace, subject, frozenset(roles.split(",")))
        assertion = _gateway_keys().mint(
            audience=subgraph_audience(service), context=caller, body=body, ttl_seconds=ttl_seconds
        )
        stream = cls()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"test"),
                (b"content-type", b"application/json"),
                (b"accept", accept.encode()),
                (b"content-length", str(len(body)).encode()),
                (ASSERTION_HEADER.encode(), assertion.encode()),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("test", 80),
        }
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await stream._disconnect.wait()
            return {"type": "http.disconnect"}

        stream._task = asyncio.ensure_future(app(scope, receive, stream._send))
        stream._task.add_done_callback(lambda _: stream._ended())
        await asyncio.wait_for(stream._started.wait(), 10.0)
        return stream

    async def _send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode(): v.decode() for k, v in message.get("headers", [])}
            return
        chunk = message.get("body", b"")
        if not self.headers.get("content-type", "").startswith("text/event-stream"):
            self.body += chunk
        else:
            for event in self._parser.feed(chunk):
                if event.id is not None:
                    self.position = int(event.id)
                self._events.put_nowait(event)
        # Opened once the first bytes (the starting position) or the whole answer are here.
        if chunk or not message.get("more_body", False):
            self._started.set()
        if not message.get("more_body", False):
            self._ended()

    def _ended(self) -> None:
        if not self.ended:
            self.ended = True
            self._started.set()
            self._events.put_nowait(None)

    async def event(self, timeout: float = 10.0, *, heartbeats: bool = False) -> SSEEvent | None:
        """The next event block (None once the stream has ended)."""
        while True:
            event = await asyncio.wait_for(self._events.get(), timeout)
            if event is None:
                self._events.put_nowait(None)
                return None
            if heartbeats or event.event is not None:
                return event

    async def result(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next GraphQL result (`event: next`); fails if the stream ends first."""
        event = await self.event(timeout)
        if event is None or event.event != "next":
            raise AssertionError(f"expected a result, got {event!r} (body {self.body!r})")
        found: dict[str, Any] = event.json()
        return found

    async def close(self) -> None:
        self._disconnect.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, 5.0)

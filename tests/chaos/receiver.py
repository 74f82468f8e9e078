"""The suite's webhook receiver: an HTTP endpoint on 127.0.0.1 that answers 200 to every
delivery and keeps what arrived (the `webhook-id` header and the CloudEvent's id, type and
subject), as a receiver that de-duplicates on `webhook-id` would see it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import orjson


@dataclass(frozen=True)
class Arrival:
    webhook_id: str
    event_id: str
    type: str
    subject: str
    at: float  # time.monotonic() of its arrival


@dataclass
class Receiver:
    arrivals: list[Arrival] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readline():  # the request line; keep-alive until closed
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                event = orjson.loads(body)
                self.arrivals.append(
                    Arrival(
                        headers.get("webhook-id", ""),
                        str(event.get("id")),
                        str(event.get("type")),
                        str(event.get("subject")),
                        time.monotonic(),
                    )
                )
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            writer.close()

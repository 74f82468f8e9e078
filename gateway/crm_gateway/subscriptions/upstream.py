"""One subscription at its subgraph: GraphQL over SSE (distinct connections), the subgraphs'
live transport (`crm_kit.live_http`), over a plain asyncio connection of its own.

`open_stream` POSTs the subscription and returns either the stream's events or, when the
subgraph answered without a stream (a refusal, a validation error), its status and body.
The connection is read as it arrives (chunked or until closed); nothing is buffered beyond
one SSE block.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from crm_kit.sse import SSEEvent, SSEParser

MAX_HEADER_BYTES = 64_000
MAX_ERROR_BODY = 1_000_000


class UpstreamBroken(Exception):
    """The connection failed or ended without the stream's `complete`."""


@dataclass
class Refusal:
    """The subgraph answered without a stream."""

    status: int
    body: bytes


class Stream:
    """An open event stream; `close()` it when done."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chunked: bool
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._chunked = chunked
        self._parser = SSEParser()

    async def events(self, idle_timeout: float) -> AsyncIterator[SSEEvent]:
        """The stream's events; UpstreamBroken when nothing (not even a heartbeat) arrives
        within `idle_timeout` seconds or the connection ends."""
        while True:
            try:
                chunk = await asyncio.wait_for(self._read_chunk(), idle_timeout)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as error:
                raise UpstreamBroken(type(error).__name__) from None
            if not chunk:
                raise UpstreamBroken("the stream ended")
            for event in self._parser.feed(chunk):
                yield event

    async def _read_chunk(self) -> bytes:
        if not self._chunked:
            return await self._reader.read(65_536)
        size_line = await self._reader.readline()
        if not size_line:
            return b""
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            return b""
        data = await self._reader.readexactly(size)
        await self._reader.readexactly(2)  # the chunk's CRLF
        return data

    def close(self) -> None:
        self._writer.close()


async def open_stream(
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    connect_timeout: float,
    answer_timeout: float,
) -> Stream | Refusal:
    """POST `body` to `url` asking for an event stream. OSError / TimeoutError when the
    subgraph cannot be reached or does not answer in time."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    host = parts.hostname or "127.0.0.1"
    context = ssl.create_default_context() if secure else None
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=context, limit=MAX_HEADER_BYTES), connect_timeout
    )
    try:
        head = (
            f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            + f"Content-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)
        status, fields = await asyncio.wait_for(_read_head(reader), answer_timeout)
        chunked = "chunked" in fields.get("transfer-encoding", "").lower()
        if status == 200 and fields.get("content-type", "").startswith("text/event-stream"):
            return Stream(reader, writer, chunked)
        content = await asyncio.wait_for(_read_body(reader, fields, chunked), answer_timeout)
        writer.close()
        return Refusal(status, content)
    except BaseException:
        writer.close()
        raise


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status_line = await reader.readline()
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise OSError("not an HTTP answer")
    status = int(parts[1])
    fields: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            return status, fields
        name, _, value = line.decode("latin-1").partition(":")
        fields[name.strip().lower()] = value.strip()


async def _read_body(reader: asyncio.StreamReader, fields: dict[str, str], chunked: bool) -> bytes:
    if chunked:
        parts: list[bytes] = []
        total = 0
        while True:
            size = int((await reader.readline()).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                return b"".join(parts)
            total += size
            if total > MAX_ERROR_BODY:
                raise OSError("answer too large")
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = int(fields.get("content-length") or 0)
    if length > MAX_ERROR_BODY:
        raise OSError("answer too large")
    return await reader.readexactly(length) if length else await reader.read(MAX_ERROR_BODY)

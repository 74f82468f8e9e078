"""A lean HTTP/1.1 keep-alive transport for httpx, used for plain-http subgraphs.

httpcore's pool re-checks every pooled connection (with a socket poll each) on every request,
which made it the gateway's largest CPU cost under load. Subgraph traffic is simple: POST a
JSON body, read a JSON response, reuse the connection. This transport does exactly that over
asyncio streams with an idle-connection stack per host; https falls back to httpx's default.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx


class _Connection:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        self.writer.close()


class LeanTransport(httpx.AsyncBaseTransport):
    def __init__(self, max_idle_per_host: int = 64) -> None:
        self._idle: dict[tuple[str, int], deque[_Connection]] = {}
        self._max_idle = max_idle_per_host
        self._fallback: httpx.AsyncHTTPTransport | None = None
        self._targets: dict[str, tuple[str, int, str, str]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            if self._fallback is None:
                self._fallback = httpx.AsyncHTTPTransport()
            return await self._fallback.handle_async_request(request)
        body = request.content
        head = _head(
            request.method, url.raw_path.decode(), url.netloc.decode(), request.headers, len(body)
        )
        status, headers, content = await self._exchange(
            url.host, url.port or 80, head + body, request
        )
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        """POSTs to a plain-http URL without building httpx requests and responses.

        The gateway's hot path: httpx's request and response models cost more CPU than the
        exchange itself. Failures raise the same httpx errors as `handle_async_request`.
        """
        target = self._targets.get(url)
        if target is None:
            parts = urlsplit(url)
            target = (parts.hostname or "", parts.port or 80, parts.path or "/", parts.netloc)
            self._targets[url] = target
        host, port, path, netloc = target
        head = _head("POST", path, netloc, headers, len(body))
        status, _, content = await self._exchange(host, port, head + body, None)
        return status, content

    async def _exchange(
        self, host: str, port: int, message: bytes, request: httpx.Request | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        idle = self._idle.setdefault((host, port), deque())
        # A pooled connection may have been closed by the server meanwhile: retry once on a
        # fresh one (requests to subgraphs are safe to resend only if nothing was read).
        for attempt in (0, 1):
            reused = bool(idle) and attempt == 0
            conn = idle.pop() if reused else await self._connect(host, port, request)
            try:
                conn.writer.write(message)
                status, headers, content, keep = await self._read_response(conn.reader)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                conn.close()
                if reused:
                    continue
                raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc
            except BaseException:
                conn.close()  # cancelled (e.g. timeout): the connection state is unknown
                raise
            if keep and len(idle) < self._max_idle:
                idle.append(conn)
            else:
                conn.close()
            return status, headers, content
        raise httpx.ReadError("connection lost", request=request)

    async def _connect(self, host: str, port: int, request: httpx.Request | None) -> _Connection:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or "connect failed", request=request) from exc
        return _Connection(reader, writer)

    @staticmethod
    async def _read_response(
        reader: asyncio.StreamReader,
    ) -> tuple[int, list[tuple[str, str]], bytes, bool]:
        status_line = await reader.readline()
        if not status_line:
            raise asyncio.IncompleteReadError(b"", None)
        version, status, *_ = status_line.decode("latin-1").split(" ", 2)
        headers: list[tuple[str, str]] = []
        length = -1
        chunked = False
        keep = version == "HTTP/1.1"
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            k = k.strip()
            v = v.strip()
            lk = k.lower()
            if lk == "content-length":
                length = int(v)
            elif lk == "transfer-encoding":
                chunked = "chunked" in v.lower()
                continue  # the body handed to httpx is already de-chunked
            elif lk == "connection":
                keep = v.lower() != "close"
            headers.append((k, v))
        if chunked:
            parts = []
            while True:
                size = int((await reader.readline()).split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(await reader.readexactly(size))
                await reader.readline()
            content = b"".join(parts)
        elif length >= 0:
            content = await reader.readexactly(length)
        else:
            content = await reader.read()  # body ends when the server closes
            keep = False
        return int(status), headers, content, keep

    async def aclose(self) -> None:
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        if self._fallback is not None:
            await self._fallback.aclose()


def _head(method: str, path: str, netloc: str, headers: Mapping[str, str], length: int) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {netloc}"]
    for k, v in headers.items():
        if k.lower() not in ("host", "content-length", "transfer-encoding", "connection"):
            lines.append(f"{k}: {v}")
    lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

"""A lean HTTP/1.1 keep-alive transport for httpx, used for plain-http subgraphs.

httpcore's pool re-checks every pooled connection (with a socket poll each) on every request,
which made it the gateway's largest CPU cost under load. Subgraph traffic is simple: POST a
JSON body, read a JSON response, reuse the connection. This transport does exactly that over
asyncio streams with an idle-connection stack per host; https falls back to httpx's default.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

# httpx.Request.extensions key: True when the request may be sent twice (a GraphQL query).
IDEMPOTENT = "crm_idempotent"


class _Connection:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def close(self) -> None:
        self.writer.close()

    def usable(self, now: float, max_idle: float) -> bool:
        """False when the server has closed it (its FIN already arrived) or it has been idle
        so long that the server may close it while our request is on the way."""
        return (
            not self.reader.at_eof()
            and not self.writer.is_closing()
            and now - self.idle_since < max_idle
        )


class LeanTransport(httpx.AsyncBaseTransport):
    """Never sends a request twice unless it is marked idempotent, and then only when the
    connection failed while the request was being written: once a request has been written,
    the subgraph may have acted on it (a mutation would run twice), so a failure after that
    is the caller's to report, not ours to repeat.

    Idle connections older than `max_idle_seconds` are not reused; keep it below the
    subgraphs' keep-alive timeout (uvicorn's default is 5 s), so the server does not close a
    connection just as a request is written to it.
    """

    def __init__(
        self,
        max_idle_per_host: int = 64,
        *,
        connect_timeout: float = 1.0,
        max_idle_seconds: float = 4.0,
    ) -> None:
        self._idle: dict[tuple[str, int], deque[_Connection]] = {}
        self._max_idle = max_idle_per_host
        self._connect_timeout = connect_timeout
        self._max_idle_seconds = max_idle_seconds
        self._fallback: httpx.AsyncHTTPTransport | None = None
        self._targets: dict[str, tuple[str, int, str, str]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            if self._fallback is None:
                self._fallback = httpx.AsyncHTTPTransport(retries=0)
            return await self._fallback.handle_async_request(request)
        body = request.content
        head = _head(
            request.method, url.raw_path.decode(), url.netloc.decode(), request.headers, len(body)
        )
        status, headers, content = await self._exchange(
            url.host,
            url.port or 80,
            head + body,
            request,
            idempotent=bool(request.extensions.get(IDEMPOTENT)),
        )
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, *, idempotent: bool
    ) -> tuple[int, bytes]:
        """POSTs to a plain-http URL without building httpx requests and responses.

        The gateway's hot path: httpx's request and response models cost more CPU than the
        exchange itself. Failures raise the same httpx errors as `handle_async_request`, and
        the same never-twice rule holds (`idempotent`: a query).
        """
        target = self._targets.get(url)
        if target is None:
            parts = urlsplit(url)
            target = (parts.hostname or "", parts.port or 80, parts.path or "/", parts.netloc)
            self._targets[url] = target
        host, port, path, netloc = target
        head = _head("POST", path, netloc, headers, len(body))
        status, _, content = await self._exchange(
            host, port, head + body, None, idempotent=idempotent
        )
        return status, content

    async def _exchange(
        self,
        host: str,
        port: int,
        message: bytes,
        request: httpx.Request | None,
        *,
        idempotent: bool,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        idle = self._idle.setdefault((host, port), deque())
        conn, reused = self._pooled(idle) or (await self._connect(host, port, request), False)
        try:
            await self._write(conn, message, request)
        except httpx.WriteError:
            if not (reused and idempotent):
                raise
            # A pooled connection broke under the write: a query may go once more, fresh.
            conn = await self._connect(host, port, request)
            await self._write(conn, message, request)
        try:
            status, headers, content, keep = await self._read_response(conn.reader)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            conn.close()
            # Written, so possibly acted on: reported, never re-sent.
            raise httpx.RemoteProtocolError(
                f"connection lost after the request was sent ({type(exc).__name__})",
                request=request,
            ) from exc
        except BaseException:
            conn.close()  # cancelled (e.g. timeout): the connection state is unknown
            raise
        if keep and len(idle) < self._max_idle:
            conn.idle_since = time.monotonic()
            idle.append(conn)
        else:
            conn.close()
        return status, headers, content

    def _pooled(self, idle: deque[_Connection]) -> tuple[_Connection, bool] | None:
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.usable(now, self._max_idle_seconds):
                return conn, True
            conn.close()
        return None

    @staticmethod
    async def _write(conn: _Connection, message: bytes, request: httpx.Request | None) -> None:
        try:
            conn.writer.write(message)
            await conn.writer.drain()
        except OSError as exc:
            conn.close()
            raise httpx.WriteError(str(exc) or type(exc).__name__, request=request) from exc
        except BaseException:
            conn.close()
            raise

    async def _connect(self, host: str, port: int, request: httpx.Request | None) -> _Connection:
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(host, port)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout("connect timed out", request=request) from exc
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

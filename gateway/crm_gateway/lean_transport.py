"""A lean HTTP/1.1 keep-alive transport for httpx, used for plain-http subgraphs.

httpcore's pool re-checks every pooled connection (with a socket poll each) on every request,
which made it the gateway's largest CPU cost under load. Subgraph traffic is simple: POST a
JSON body, read a JSON response, reuse the connection. This transport does exactly that: each
connection is an asyncio protocol whose response is parsed by httptools (the C parser uvicorn
serves with) as the bytes arrive, and handed over once complete, with an idle-connection
stack per host; https falls back to httpx's default. (Reading through asyncio streams, a line
at a time, cost several times the parse.)
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Mapping
from typing import cast
from urllib.parse import urlsplit

import httptools
import httpx

# httpx.Request.extensions key: True when the request may be sent twice (a GraphQL query).
IDEMPOTENT = "crm_idempotent"

# Response headers that say where the body ends; without either it ends when the server
# closes the connection.
_FRAMING = frozenset({b"content-length", b"transfer-encoding"})


class _ResponseLost(ConnectionError):
    """The connection ended before the response to the request written on it was whole."""


# status, headers as sent, body, whether the connection may carry another request
Response = tuple[int, list[tuple[bytes, bytes]], bytes, bool]


class _Connection(asyncio.Protocol):
    """One keep-alive connection to a subgraph: at most one request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.idle_since = 0.0
        # The server closed its side or the connection is gone: never written to again.
        self.ended = False
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._waiter: asyncio.Future[Response] | None = None
        self._parser = httptools.HttpResponseParser(self)

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP transport (uvloop's is not an asyncio.Transport subclass, only alike).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            # Bytes no request asked for: whatever the server meant, this connection's
            # state is unknown, so it is not used again.
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.close()
            if not waiter.done():
                waiter.set_exception(exc)

    def eof_received(self) -> bool:
        self.ended = True
        self._end(None)
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self._end(exc)

    # --- httptools callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            self.ended = True  # a second response to one request: not used again
        self._status = 0
        self._headers = []
        self._body = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
            waiter.set_result((self._status, self._headers, body, self._parser.should_keep_alive()))

    # --- the exchange -----------------------------------------------------------------------

    def usable(self, now: float, max_idle: float) -> bool:
        """False when the server has closed it (its FIN already arrived) or it has been idle
        so long that the server may close it while our request is on the way."""
        return (
            not self.ended
            and self.transport is not None
            and not self.transport.is_closing()
            and now - self.idle_since < max_idle
        )

    def send(self, message: bytes) -> asyncio.Future[Response]:
        """Writes a request; the future completes with its response once whole. OSError
        when the connection is known to be gone (then nothing was written)."""
        transport = self.transport
        if self.ended or transport is None or transport.is_closing():
            raise ConnectionResetError("connection closed")
        self._status = 0
        self._waiter = asyncio.get_running_loop().create_future()
        transport.write(message)
        return self._waiter

    def close(self) -> None:
        self.ended = True
        if self.transport is not None:
            self.transport.close()

    def _end(self, exc: Exception | None) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if (
            self._status
            and exc is None
            and not any(name.lower() in _FRAMING for name, _ in self._headers)
        ):
            # A body without framing ends when the server closes: it is whole.
            waiter.set_result((self._status, self._headers, b"".join(self._body), False))
        else:
            waiter.set_exception(exc or _ResponseLost("closed before the response was whole"))


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
        status, raw_headers, content = await self._exchange(
            url.host,
            url.port or 80,
            head + body,
            request,
            idempotent=bool(request.extensions.get(IDEMPOTENT)),
        )
        # The body handed to httpx is already de-chunked.
        headers = [(k, v) for k, v in raw_headers if k.lower() != b"transfer-encoding"]
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
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        idle = self._idle.setdefault((host, port), deque())
        conn, reused = self._pooled(idle) or (await self._connect(host, port, request), False)
        try:
            answer = self._write(conn, message, request)
        except httpx.WriteError:
            if not (reused and idempotent):
                raise
            # A pooled connection broke under the write: a query may go once more, fresh.
            conn = await self._connect(host, port, request)
            answer = self._write(conn, message, request)
        try:
            status, headers, content, keep = await answer
        except (OSError, httptools.HttpParserError) as exc:
            conn.close()
            # Written, so possibly acted on: reported, never re-sent.
            raise httpx.RemoteProtocolError(
                f"connection lost after the request was sent ({type(exc).__name__})",
                request=request,
            ) from exc
        except BaseException:
            conn.close()  # cancelled (e.g. timeout): the connection state is unknown
            raise
        if keep and not conn.ended and len(idle) < self._max_idle:
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
    def _write(
        conn: _Connection, message: bytes, request: httpx.Request | None
    ) -> asyncio.Future[Response]:
        try:
            return conn.send(message)
        except (OSError, RuntimeError) as exc:
            conn.close()
            raise httpx.WriteError(str(exc) or type(exc).__name__, request=request) from exc

    async def _connect(self, host: str, port: int, request: httpx.Request | None) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, conn = await loop.create_connection(_Connection, host, port)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout("connect timed out", request=request) from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or "connect failed", request=request) from exc
        return conn

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

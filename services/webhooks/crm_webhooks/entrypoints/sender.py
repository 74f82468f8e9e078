"""The HTTP side of a delivery: resolve the host once, refuse non-public addresses unless
the workspace allows private networks (the SSRF guard), connect to exactly the address
checked (no second resolution an attacker's DNS could change), never follow a redirect,
bound the time, and read nothing of the answer but its status."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import httpx

from crm_kit.clock import utcnow

from ..domain.addresses import public
from ..domain.delivery import Attempt


class Sender:
    def __init__(self, max_in_flight_per_endpoint: int = 4) -> None:
        self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        self._limit = max_in_flight_per_endpoint
        self._gates: dict[str, asyncio.Semaphore] = {}

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __call__(
        self,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        allow_private: bool,
        timeout: float,
    ) -> Attempt:
        parts = urlsplit(url)
        gate = self._gates.setdefault(parts.netloc, asyncio.Semaphore(self._limit))
        async with gate:
            return await self._send(url, headers, body, allow_private, timeout)

    async def _send(
        self, url: str, headers: Mapping[str, str], body: bytes, allow_private: bool, timeout: float
    ) -> Attempt:
        at = utcnow()
        start = time.perf_counter()

        def failed(error: str) -> Attempt:
            return Attempt(at, None, round((time.perf_counter() - start) * 1000, 1), error)

        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            found = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM),
                timeout,
            )
        except (OSError, TimeoutError):
            return failed(f"cannot resolve {host}")
        addresses = [str(info[4][0]) for info in found]
        if not allow_private and not all(public(a) for a in addresses):
            return failed(f"{host} resolves to a private or reserved address (refused)")
        address = addresses[0]
        literal = f"[{address}]" if ":" in address else address
        pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        try:
            async with self._client.stream(
                "POST",
                pinned,
                content=body,
                headers={**headers, "host": parts.netloc},
                timeout=timeout,
                extensions=extensions,
            ) as response:
                status = response.status_code
        except httpx.TimeoutException:
            return failed("timed out")
        except httpx.HTTPError as error:
            return failed(f"connection failed ({type(error).__name__})")
        latency = round((time.perf_counter() - start) * 1000, 1)
        return Attempt(at, status, latency, None if 200 <= status < 300 else f"HTTP {status}")

"""The load's HTTP client: POSTs over keep-alive connections with the gateway's own lean
transport (`crm_gateway.lean_transport`), so the load costs the machine little beside the
stack it measures.

With httpx's pooled client the load generator spent about 12 ms of CPU per request at 200
users (0.6 of a core on a 2-core machine, taken from the stack): httpcore's pool looks at
every pooled connection, a socket poll each, on every request, so its cost grows with the
number of users. The lean transport takes an idle connection off a stack and parses the
response with httptools.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx

# On the path from run.py (the repository's gateway/).
from crm_gateway.lean_transport import LeanTransport

# What a failed exchange raises: the transport's httpx errors, a connection lost, a timeout.
FAILURES = (httpx.HTTPError, OSError, TimeoutError)


class Poster:
    """POSTs bytes to plain-http URLs of 127.0.0.1, each with a time limit; never sends a
    request twice (a write must not run twice)."""

    def __init__(self, connections: int, timeout: float) -> None:
        # Idle connections are kept below uvicorn's 5 s keep-alive (the transport's default
        # 4 s); connecting may wait as long as a request under a loaded machine.
        self._transport = LeanTransport(max_idle_per_host=connections, connect_timeout=timeout)
        self._timeout = timeout

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        """The status and body of the answer (FAILURES: none came)."""
        async with asyncio.timeout(self._timeout):
            return await self._transport.post(url, headers, body, idempotent=False)

    async def aclose(self) -> None:
        await self._transport.aclose()

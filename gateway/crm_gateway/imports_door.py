"""A client of the imports subgraph's HTTP doors beside GraphQL: the uploads
(`uploads.py`) and the export downloads (`downloads.py`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

import httpx

from crm_kit import telemetry
from crm_kit.assertions import KeyRing

# A file of up to 100 MiB either way, on a loaded machine.
TIMEOUT = httpx.Timeout(300.0, connect=5.0)


class ImportsDoor:
    def __init__(
        self,
        imports_url: str | None,
        keys: Callable[[], KeyRing],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.imports_url = imports_url.rstrip("/") if imports_url else None
        self._keys = keys
        self._client = httpx.AsyncClient(timeout=TIMEOUT, transport=transport, trust_env=False)
        telemetry.instrument_http_client(self._client)

    @classmethod
    def for_gateway(
        cls,
        urls: dict[str, str],
        keys: Callable[[], KeyRing],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Self:
        """`urls`: subgraph URLs by name; the imports subgraph's host without /graphql."""
        url = urls.get("imports")
        return cls(url.removesuffix("/graphql") if url else None, keys, transport)

    async def aclose(self) -> None:
        await self._client.aclose()

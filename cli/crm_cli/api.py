"""The CLI's way into the platform's GraphQL API, through the gateway like any client.

Every mutation is sent with a fresh `Idempotency-Key` and repeated with the same key when
the answer says repeating is safe: the connection failed, or every error is `retryable`
(a service was away, the key's first request was still running). The services answer a
repeat from the key's stored result, so a change whose answer was lost is made once.
A query is repeated on the same conditions (it changes nothing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import httpx

# Waits before each repeat (two at most); a server's Retry-After is honoured up to 5 s.
REPEAT_DELAYS = (0.5, 1.5)
MAX_RETRY_AFTER = 5.0


def is_mutation(query: str) -> bool:
    return query.lstrip().startswith("mutation")


def _repeatable(body: dict[str, Any]) -> bool:
    errors = body.get("errors") or []
    if not errors or body.get("data"):
        return False
    return all((error.get("extensions") or {}).get("retryable") is True for error in errors)


def post_graphql(
    http: httpx.Client,
    url: str,
    token: str,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The GraphQL response body (errors included); raises httpx.TransportError when the
    gateway cannot be reached after the repeats."""
    headers = {"authorization": f"Bearer {token}"}
    if is_mutation(query):
        headers["idempotency-key"] = uuid4().hex
    payload = {"query": query, "variables": variables or {}}
    for repeat in range(len(REPEAT_DELAYS) + 1):
        last = repeat == len(REPEAT_DELAYS)
        try:
            response = http.post(url, json=payload, headers=headers)
        except httpx.TransportError:
            if last:
                raise
            sleep(REPEAT_DELAYS[repeat])
            continue
        body: dict[str, Any] = response.json()
        if last or not _repeatable(body):
            return body
        asked = float(response.headers.get("retry-after") or 0)
        sleep(max(REPEAT_DELAYS[repeat], min(asked, MAX_RETRY_AFTER)))
    raise AssertionError("unreachable")

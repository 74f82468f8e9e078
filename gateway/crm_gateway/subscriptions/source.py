"""The results of one subscription at its subgraph, kept going across what a client should
never see: the subgraph's assertion expiring (re-opened with a fresh one), the subgraph
restarting or cutting off a slow reader, the connection dropping. Each re-open resumes
after the last stream position the subgraph reported (`extensions.resumeAfter`), so no
event is lost or repeated. What cannot be resumed ends the subscription with an error the
client can act on (`SourceEnded`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from crm_gateway.subscriptions.upstream import Refusal, UpstreamBroken, open_stream

# Final errors of a subgraph stream after which it is simply opened again.
RENEW_NOW = frozenset({"ASSERTION_EXPIRED", "SLOW_SUBSCRIBER"})
RENEW_AFTER_OUTAGE = frozenset({"SERVICE_RESTARTING", "SERVICE_UNAVAILABLE"})
# Final errors that say events were lost: the client must subscribe again and reload.
LOST = frozenset({"RESUME_FAILED", "EVENTS_MISSED"})

Sign = Callable[[bytes], dict[str, str]]


@dataclass(frozen=True)
class SourceSettings:
    connect_timeout: float = 1.0
    answer_timeout: float = 10.0
    idle_timeout: float = 45.0  # three subgraph heartbeats
    resume_seconds: float = 30.0  # how long an unreachable subgraph is retried


class SourceEnded(Exception):
    """The subscription cannot go on; `errors` are the last thing the client gets."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0].get("message") if errors else "ended")
        self.errors = errors


def _error(message: str, code: str, service: str, **extra: Any) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code, "serviceName": service, **extra}}


def final_code(payload: Any) -> str | None:
    """The code of a data-less result (how a subgraph ends a stream with an error)."""
    if not isinstance(payload, dict) or payload.get("data") is not None:
        return None
    errors = payload.get("errors")
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None
    code = (errors[0].get("extensions") or {}).get("code")
    return code if isinstance(code, str) else None


class ResumingSource:
    def __init__(
        self,
        *,
        url: str,
        service: str,
        operation: str,
        variables: dict[str, Any],
        headers: dict[str, str],
        sign: Sign,
        settings: SourceSettings,
        on_open: Callable[[bool], None] = lambda _: None,
    ) -> None:
        self.url = url
        self.service = service
        self.operation = operation
        self.variables = variables
        self.headers = headers
        self.sign = sign
        self.settings = settings
        self.on_open = on_open
        self.position: int | None = None  # the last stream position the subgraph reported
        self.reopened = 0

    def _body(self) -> bytes:
        payload: dict[str, Any] = {"query": self.operation, "variables": self.variables}
        if self.position is not None:
            payload["extensions"] = {"resumeAfter": self.position}
        return orjson.dumps(payload)

    async def results(self) -> AsyncIterator[dict[str, Any]]:
        outage: float | None = None  # since when the subgraph could not be reached
        attempts = 0
        first = True
        while True:
            if outage is not None:
                attempts += 1
                await self._pause(outage, attempts)
            body = self._body()
            try:
                opened = await open_stream(
                    self.url,
                    {**self.headers, **self.sign(body)},
                    body,
                    connect_timeout=self.settings.connect_timeout,
                    answer_timeout=self.settings.answer_timeout,
                )
            except (OSError, TimeoutError):
                if first:
                    raise SourceEnded(
                        [
                            _error(
                                f"Subgraph '{self.service}' is unreachable; retry shortly.",
                                "SERVICE_UNAVAILABLE",
                                self.service,
                                retryable=True,
                            )
                        ]
                    ) from None
                outage = outage or time.monotonic()
                continue
            if isinstance(opened, Refusal):
                if not first and opened.status in (502, 503, 504):
                    outage = outage or time.monotonic()
                    continue
                raise SourceEnded(self._refusal_errors(opened))
            if not first:
                self.reopened += 1
            first = False
            self.on_open(True)
            try:
                async for event in opened.events(self.settings.idle_timeout):
                    if event.id:
                        self.position = int(event.id)
                    if event.event == "complete":
                        return  # the subgraph ended it (after its final result, if any)
                    if event.event != "next":
                        continue
                    payload = event.json()
                    code = final_code(payload)
                    if code in RENEW_NOW:
                        outage, attempts = None, 0
                        break
                    if code in RENEW_AFTER_OUTAGE:
                        outage = outage or time.monotonic()
                        break
                    if code in LOST:
                        raise SourceEnded(self._lost(payload))
                    outage, attempts = None, 0
                    yield payload
            except UpstreamBroken:
                outage = outage or time.monotonic()
            finally:
                opened.close()
                self.on_open(False)

    async def _pause(self, outage: float, attempts: int) -> None:
        if time.monotonic() - outage > self.settings.resume_seconds:
            where = f" after position {self.position}" if self.position is not None else ""
            raise SourceEnded(
                [
                    _error(
                        f"Lost the subscription at subgraph '{self.service}' for more than "
                        f"{self.settings.resume_seconds:g} s; subscribe again and reload "
                        f"what changed{where}.",
                        "SERVICE_UNAVAILABLE",
                        self.service,
                        retryable=True,
                    )
                ]
            )
        await asyncio.sleep(min(2.0, 0.05 * 2**attempts) * (0.5 + random.random()))

    def _refusal_errors(self, refusal: Refusal) -> list[dict[str, Any]]:
        if refusal.status == 401:
            return [
                _error(
                    f"Subgraph '{self.service}' refused the gateway's assertion (key "
                    "configuration).",
                    "SUBGRAPH_AUTH_FAILED",
                    self.service,
                )
            ]
        try:
            body = orjson.loads(refusal.body)
        except orjson.JSONDecodeError:
            body = None
        errors = body.get("errors") if isinstance(body, dict) else None
        if isinstance(errors, list) and errors and all(isinstance(e, dict) for e in errors):
            for error in errors:
                error.setdefault("extensions", {}).setdefault("serviceName", self.service)
            return errors
        return [
            _error(
                f"Subgraph '{self.service}' answered HTTP {refusal.status} without a stream.",
                "SUBGRAPH_BAD_RESPONSE",
                self.service,
            )
        ]

    def _lost(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        reason = payload["errors"][0].get("message", "")
        return [
            _error(
                f"The subscription could not resume at subgraph '{self.service}' ({reason}); "
                "subscribe again and reload what changed meanwhile.",
                "SUBSCRIPTION_RESUME_FAILED",
                self.service,
                retryable=True,
            )
        ]

"""JetStream publishes of a wave of messages whose acks come back on ONE inbox
subscription, counted per wave: the outbox relay's way out for an import batch's thousand
events (`OutboxRelay._publish_wave`).

nats-py's `publish_async` makes, per message, a token, a future with its done-callback and
a semaphore turn, and parses each ack with `json.loads` into a `PubAck`: with the
callback that resolves the future, ~7 to 9 % of the deals service's CPU during an import
(cProfile, ninth pass of docs/imports.md). Here a wave is one entry in a table; each
message's reply subject is `<inbox>.<wave>-<n>`; an ack only marks its slot (a byte), and
its body is parsed only when it may be an error. What a publish guarantees is the same: a
wave is done when every message was acked by the stream (stored or found a duplicate by
its `Nats-Msg-Id`); an error ack, a no-responders status or a missing ack (the caller's
deadline) fails the wave, and the caller sends it all again later under the same ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson


class AckRefused(ConnectionError):
    """The stream refused a publish (an error ack) or nothing stores the subject."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    subject: str
    payload: bytes
    headers: Mapping[str, str]


class AckMsg(Protocol):
    subject: str
    data: bytes
    headers: dict[str, str] | None


class AckClient(Protocol):
    """What of a NATS client (nats-py's `Client`) the waves use."""

    def new_inbox(self) -> str: ...

    async def subscribe(self, subject: str, *, cb: Callable[[Any], Awaitable[None]]) -> Any: ...

    async def publish(
        self, subject: str, payload: bytes = b"", reply: str = "", headers: Any = None
    ) -> None: ...


# An ack of a stored message: `{"stream":"CRM","seq":42}`, plus `"duplicate": true` when
# the stream had the message id already; a refusal: `{"error":{"code":..,"description":..}}`.
# The bodies are parsed only when these names occur in them.
_ERROR = b'"error"'
_DUPLICATE = b'"duplicate"'
ACKED, DUPLICATE = 1, 2


class _Wave:
    __slots__ = ("acked", "done", "waiting")

    def __init__(self, size: int) -> None:
        self.waiting = size
        self.acked = bytearray(size)  # per message: 0 waiting, ACKED or DUPLICATE
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class WaveAcks:
    """A relay's publishes in waves, their acks on one subscription (made at the first
    wave, on an inbox of this instance; nats-py subscribes it again after a reconnect)."""

    def __init__(self, nc: AckClient) -> None:
        self._nc = nc
        self._prefix = ""
        self._subscribing = asyncio.Lock()
        self._waves: dict[str, _Wave] = {}
        self._count = 0

    async def publish(self, messages: Sequence[Outgoing]) -> bytes:
        """Send every message, then wait until each is acked; answers each message's ack
        (`ACKED`, or `DUPLICATE`: the stream had its id). Raises `AckRefused` at the first
        refusal. The caller bounds the wait (`asyncio.timeout`): a wave given up is
        forgotten, its late acks ignored."""
        if not messages:
            return b""
        prefix = await self._inbox()
        self._count += 1
        key = str(self._count)
        wave = self._waves[key] = _Wave(len(messages))
        try:
            reply = f"{prefix}.{key}-"
            for n, message in enumerate(messages):
                await self._nc.publish(
                    message.subject, message.payload, reply=f"{reply}{n}", headers=message.headers
                )
            await wave.done
        finally:
            del self._waves[key]
            if wave.done.done() and not wave.done.cancelled():
                wave.done.exception()  # a refusal a failed send left unawaited: seen
        return bytes(wave.acked)

    async def _inbox(self) -> str:
        if not self._prefix:
            async with self._subscribing:
                if not self._prefix:
                    prefix = self._nc.new_inbox()
                    await self._nc.subscribe(f"{prefix}.*", cb=self._on_ack)
                    self._prefix = prefix
        return self._prefix

    async def _on_ack(self, msg: AckMsg) -> None:
        key, _, slot = msg.subject[len(self._prefix) + 1 :].partition("-")
        wave = self._waves.get(key)
        if wave is None or wave.done.done() or not slot.isdigit():
            return  # a wave given up (late), failed already, or not a reply of ours
        n = int(slot)
        if n >= len(wave.acked) or wave.acked[n]:
            return
        data = msg.data
        refusal = _refusal(data, msg.headers)
        if refusal is not None:
            wave.done.set_exception(AckRefused(refusal))
            return
        wave.acked[n] = DUPLICATE if _duplicate(data) else ACKED
        wave.waiting -= 1
        if not wave.waiting:
            wave.done.set_result(None)


def _duplicate(data: bytes) -> bool:
    if _DUPLICATE not in data:
        return False
    body = orjson.loads(data)
    return isinstance(body, dict) and body.get("duplicate") is True


def _refusal(data: bytes, headers: Mapping[str, str] | None) -> str | None:
    """Why an ack is no ack (None when the message was stored)."""
    if not data:
        # A status message: 503 when no stream stores the subject (no responders).
        status = (headers or {}).get("Status", "")
        return f"no stream answered the publish (status {status or 'none'})"
    if _ERROR not in data:
        return None
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        return f"unreadable ack: {data[:200]!r}"
    error = body.get("error") if isinstance(body, dict) else None
    if error is None:
        return None  # "error" was inside a value (a stream named so), not a refusal
    return f"the stream refused the publish: {error}"

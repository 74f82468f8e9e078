"""Server-Sent Events, as GraphQL over SSE uses them: writing `next` / `complete` blocks and
reading a stream back into events (the gateway reads its subgraphs' streams with it).

A block is lines `field: value` ended by a blank line; lines starting with `:` are
comments. Unlike a browser's EventSource, the reader also returns blocks that carry only an
`id` (the live transport's position heartbeats, `crm_kit.live_http`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["COMPLETE", "SSEEvent", "SSEParser", "heartbeat", "next_event"]

COMPLETE = b"event: complete\ndata: \n\n"


def next_event(result: dict[str, Any], position: int | None = None) -> bytes:
    """One GraphQL result as an `event: next` block (with the position as its `id`)."""
    head = b"event: next\n" + (b"id: %d\n" % position if position is not None else b"")
    return head + b"data: " + orjson.dumps(result) + b"\n\n"


def heartbeat(position: int | None = None) -> bytes:
    """A comment block that keeps the stream alive (and says how far it has got)."""
    return b": live\n" + (b"id: %d\n" % position if position is not None else b"") + b"\n"


@dataclass(frozen=True)
class SSEEvent:
    event: str | None  # None: a block without an `event` field
    data: str
    id: str | None

    def json(self) -> Any:
        return orjson.loads(self.data) if self.data else None


class SSEParser:
    """Feed it bytes as they arrive; it returns the complete blocks so far. Bounded: a
    block longer than `max_block` bytes is an error (a peer that never ends a line)."""

    def __init__(self, max_block: int = 16_000_000) -> None:
        self._buffer = b""
        self._max = max_block
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self._fields = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self._buffer += chunk
        out: list[SSEEvent] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self._max:
                    raise ValueError("an SSE line exceeds the limit")
                return out
            line = self._buffer[:end].rstrip(b"\r").decode("utf-8", "replace")
            self._buffer = self._buffer[end + 1 :]
            if not line:
                if self._fields:
                    out.append(SSEEvent(self._event, "\n".join(self._data), self._id))
                self._event, self._data, self._id, self._fields = None, [], None, False
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                self._event = value
            elif name == "data":
                self._data.append(value)
            elif name == "id":
                self._id = value
            else:
                continue
            self._fields = True

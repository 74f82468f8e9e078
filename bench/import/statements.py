"""Database statements a bench phase made, from pymongo's command monitoring: how many of
each command on each collection, their total time and mean size of the documents
inserted. Where an import's database time goes, statement by statement (FerretDB's own
profile, Go, is not visible to Python profilers).

Register before any client is made: `Statements.install()`; then `with
statements.phase() as seen: ...` and `seen.report(batches)`.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import bson
from pymongo import monitoring

Key = tuple[str, str, str]  # database, command, collection


@dataclass
class Seen:
    count: dict[Key, int] = field(default_factory=lambda: defaultdict(int))
    seconds: dict[Key, float] = field(default_factory=lambda: defaultdict(float))
    inserted: dict[Key, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    def report(self, batches: int, top: int = 12) -> str:
        """The statements that took longest, per batch."""
        lines = [f"{'statements per batch':>30}  {'s per batch':>11}  mean doc bytes"]
        ranked = sorted(self.seconds, key=lambda k: -self.seconds[k])[:top]
        for key in ranked:
            docs, size = self.inserted.get(key, (0, 0))
            mean = f"{size // docs:>8}" if docs else ""
            name = f"{key[1]} {key[2]}"
            lines.append(
                f"{name:>30}  {self.count[key] / batches:5.1f} x {self.seconds[key] / batches:6.3f}"
                f"  {mean}"
            )
        return "\n".join(lines)


class Statements(monitoring.CommandListener):
    _installed: Statements | None = None

    def __init__(self) -> None:
        self._open: dict[tuple[int, object], Key] = {}
        self._seen: Seen | None = None

    @classmethod
    def install(cls) -> Statements:
        if cls._installed is None:
            cls._installed = cls()
            monitoring.register(cls._installed)
        return cls._installed

    @contextlib.contextmanager
    def phase(self) -> Iterator[Seen]:
        self._seen = seen = Seen()
        try:
            yield seen
        finally:
            self._seen = None

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self._seen is None:
            return
        target = event.command.get(event.command_name)
        key = (event.database_name, event.command_name, target if isinstance(target, str) else "")
        self._open[event.request_id, event.connection_id] = key
        documents = event.command.get("documents")
        if event.command_name == "insert" and documents:
            held = self._seen.inserted[key]
            held[0] += len(documents)
            held[1] += sum(len(bson.encode(doc)) for doc in documents)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._close(event.request_id, event.connection_id, event.duration_micros)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._close(event.request_id, event.connection_id, event.duration_micros)

    def _close(self, request_id: int, connection: object, micros: int) -> None:
        key = self._open.pop((request_id, connection), None)
        if key is not None and self._seen is not None:
            self._seen.count[key] += 1
            self._seen.seconds[key] += micros / 1e6

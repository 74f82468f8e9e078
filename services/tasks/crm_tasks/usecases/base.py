"""What every use case needs: the workspace's store, who acts, the clock, and a hook that
wakes the outbox relay for the document just written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..domain.model import utcnow
from ..store.protocol import WorkspaceStore

# `notify_outbox(collection, doc_id)`: publish the events just written into that document
# (by `_id`; FerretDB v1 scans the whole collection for any other filter).
Notify = Callable[[str, Any], None]


def _noop(collection: str, doc_id: Any) -> None:
    return None


@dataclass
class Scope:
    store: WorkspaceStore
    actor: str | None = None
    notify_outbox: Notify = _noop
    clock: Callable[[], datetime] = field(default=utcnow)

    @property
    def workspace_id(self) -> str:
        return self.store.workspace_id

    def now(self) -> datetime:
        return self.clock()

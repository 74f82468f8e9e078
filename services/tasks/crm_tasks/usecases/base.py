"""What every use case needs: the workspace's store, who acts, the clock, and a hook that
wakes the outbox relay after a write."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ..domain.model import utcnow
from ..store.protocol import WorkspaceStore


def _noop() -> None:
    return None


@dataclass
class Scope:
    store: WorkspaceStore
    actor: str | None = None
    notify_outbox: Callable[[], None] = _noop
    clock: Callable[[], datetime] = field(default=utcnow)

    @property
    def workspace_id(self) -> str:
        return self.store.workspace_id

    def now(self) -> datetime:
        return self.clock()

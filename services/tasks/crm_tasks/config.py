"""Service constants and settings."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from crm_kit.settings import Settings

from .store.protocol import OUTBOX_COLLECTIONS

SERVICE = "tasks"
VERSION = "1.0.0"

__all__ = [
    "OUTBOX_COLLECTIONS",
    "SERVICE",
    "VERSION",
    "IndexSettings",
    "load_settings",
    "scheduler_interval",
]

# The read index (store/indexed.py), configured through Settings.extra.
INDEX_ENV = ("TASKS_INDEX", "TASKS_INDEX_REBUILD_SECONDS")


@dataclass(frozen=True)
class IndexSettings:
    # Off: every list, count and open count goes to the database (as before the index).
    enabled: bool = True
    # The safety-net full rebuild: one projected scan per loaded workspace (on FerretDB
    # ~36 µs a task, holding up writers meanwhile), so not too often.
    rebuild_seconds: float = 300.0

    @classmethod
    def of(cls, settings: Settings) -> IndexSettings:
        extra = settings.extra
        enabled = extra.get("TASKS_INDEX", "on").strip().lower() not in ("0", "off", "false", "no")
        rebuild = float(extra.get("TASKS_INDEX_REBUILD_SECONDS") or cls.rebuild_seconds)
        return cls(enabled=enabled, rebuild_seconds=max(rebuild, 1.0))


def load_settings() -> Settings:
    settings = Settings.from_env(SERVICE)
    index_env = {name: os.environ[name] for name in INDEX_ENV if os.environ.get(name)}
    return replace(settings, extra={**settings.extra, **index_env})


def scheduler_interval() -> float:
    """Seconds between reminder/overdue passes (TASKS_SCHEDULER_INTERVAL, default 1)."""
    return float(os.environ.get("TASKS_SCHEDULER_INTERVAL", "1.0"))

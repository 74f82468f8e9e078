"""Service constants and settings."""

from __future__ import annotations

import os

from crm_kit.settings import Settings, with_index_env

from .store.protocol import OUTBOX_COLLECTIONS

SERVICE = "tasks"
VERSION = "1.0.0"
# The read index (store/indexed.py): TASKS_INDEX, TASKS_INDEX_REBUILD_SECONDS.
INDEX_PREFIX = "TASKS"

__all__ = [
    "INDEX_PREFIX",
    "OUTBOX_COLLECTIONS",
    "SERVICE",
    "VERSION",
    "load_settings",
    "scheduler_interval",
]


def load_settings() -> Settings:
    return with_index_env(Settings.from_env(SERVICE), INDEX_PREFIX)


def scheduler_interval() -> float:
    """Seconds between reminder/overdue passes (TASKS_SCHEDULER_INTERVAL, default 1)."""
    return float(os.environ.get("TASKS_SCHEDULER_INTERVAL", "1.0"))

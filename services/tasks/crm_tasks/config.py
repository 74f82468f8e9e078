"""Service constants and settings."""

from __future__ import annotations

import os

from crm_kit.settings import Settings

from .store.protocol import OUTBOX_COLLECTIONS

SERVICE = "tasks"
VERSION = "1.0.0"

__all__ = ["OUTBOX_COLLECTIONS", "SERVICE", "VERSION", "load_settings", "scheduler_interval"]


def load_settings() -> Settings:
    return Settings.from_env(SERVICE)


def scheduler_interval() -> float:
    """Seconds between reminder/overdue passes (TASKS_SCHEDULER_INTERVAL, default 1)."""
    return float(os.environ.get("TASKS_SCHEDULER_INTERVAL", "1.0"))

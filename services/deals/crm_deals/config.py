"""Service constants and settings."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from crm_kit.settings import Settings

SERVICE = "deals"
DESCRIPTION = "Deals, pipelines and stage history of the CRM"
DURABLE_TASKS = "deals-task-completed"
DURABLE_CONTACTS = "deals-contacts-sync"
# The relay's crash-recovery sweep reads the whole deals collection on FerretDB (no index
# serves it there); writes publish their own events at once, so sweep rarely by default.
DEFAULT_SWEEP_SECONDS = 30.0
# Trained win models are retrained this often (hours; 0 turns the periodic retrain off).
DEFAULT_WIN_MODEL_RETRAIN_HOURS = 24.0


# How often each replica checks whether today's forecast snapshots are taken (seconds;
# 0 turns the daily snapshot job off).
DEFAULT_FORECAST_SNAPSHOT_CHECK_SECONDS = 600.0


def forecast_snapshot_check_seconds() -> float:
    raw = os.environ.get("FORECAST_SNAPSHOT_CHECK_SECONDS")
    return float(raw) if raw else DEFAULT_FORECAST_SNAPSHOT_CHECK_SECONDS


def win_model_retrain_hours() -> float:
    return float(os.environ.get("WIN_MODEL_RETRAIN_HOURS") or DEFAULT_WIN_MODEL_RETRAIN_HOURS)


# The read index (store/read_index.py), configured through Settings.extra.
INDEX_ENV = ("DEALS_INDEX", "DEALS_INDEX_REBUILD_SECONDS")


@dataclass(frozen=True)
class IndexSettings:
    # Off: every list and board query goes to the database (as before the index).
    enabled: bool = True
    # The safety-net full rebuild: one scan per loaded workspace. On FerretDB a scan of
    # 8,800 deals costs a few seconds of database time, so not too often.
    rebuild_seconds: float = 300.0

    @classmethod
    def of(cls, settings: Settings) -> IndexSettings:
        extra = settings.extra
        enabled = extra.get("DEALS_INDEX", "on").strip().lower() not in ("0", "off", "false", "no")
        rebuild = float(extra.get("DEALS_INDEX_REBUILD_SECONDS") or cls.rebuild_seconds)
        return cls(enabled=enabled, rebuild_seconds=max(rebuild, 1.0))


def load_settings() -> Settings:
    settings = Settings.from_env(SERVICE)
    if not os.environ.get("OUTBOX_SWEEP_SECONDS"):
        settings = replace(settings, outbox_sweep_seconds=DEFAULT_SWEEP_SECONDS)
    index_env = {name: os.environ[name] for name in INDEX_ENV if os.environ.get(name)}
    return replace(settings, extra={**settings.extra, **index_env})

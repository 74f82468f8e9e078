"""Service constants and settings."""

from __future__ import annotations

import os
from dataclasses import replace

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


def win_model_retrain_hours() -> float:
    return float(os.environ.get("WIN_MODEL_RETRAIN_HOURS") or DEFAULT_WIN_MODEL_RETRAIN_HOURS)


def load_settings() -> Settings:
    settings = Settings.from_env(SERVICE)
    if not os.environ.get("OUTBOX_SWEEP_SECONDS"):
        settings = replace(settings, outbox_sweep_seconds=DEFAULT_SWEEP_SECONDS)
    return settings

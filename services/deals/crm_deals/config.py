"""Service constants and settings."""

from __future__ import annotations

import os
from dataclasses import replace

from crm_kit.audit import Audited, AuditPolicy
from crm_kit.settings import Settings, with_index_env

SERVICE = "deals"
SOURCE = "crm/deals"
DESCRIPTION = "Deals, pipelines and stage history of the CRM"

# Collections.
PIPELINES = "pipelines"
DEALS = "deals"
# One outbox document per import batch (the store's `import_deals`).
IMPORT_BATCHES = "import_batches"
# One learned win model per (workspace, pipeline), and a copy of every version.
WIN_MODELS = "win_models"
WIN_MODEL_VERSIONS = "win_model_versions"
# One small outbox document per owner handover, `_id` = the handover id (deterministic):
# it carries the `deals.handed_over` summary event; bookkeeping once published.
HANDOVERS = "deal_handovers"
WIN_MODEL_JOBS = "win_model_jobs"
COMPANY_FACTS = "company_facts"
FORECAST_SUBMISSIONS = "forecast_submissions"
QUOTAS = "quotas"
EXCHANGE_RATES = "exchange_rates"
FORECAST_SNAPSHOTS = "forecast_snapshots"
# Leases: a pipeline's running training, a period's retrain, a day's snapshot.
WIN_MODEL_JOB_LEASES = "win_model_job_leases"
WIN_MODEL_LEASES = "win_model_leases"
SNAPSHOT_LEASES = "forecast_snapshot_leases"
# Collections whose documents carry an outbox.
OUTBOX_COLLECTIONS = (DEALS, PIPELINES, IMPORT_BATCHES, WIN_MODELS, HANDOVERS)
# The records whose changes the audit log keeps (crm_kit.audit), without the fields
# derived at write time, the version and the histories the log itself supersedes.
AUDIT = AuditPolicy(
    SERVICE,
    {
        DEALS: Audited(
            "deal",
            frozenset(
                {
                    "rev",
                    "updated_at",
                    "updated_by",
                    "created_at",
                    "created_by",
                    "stage_history",
                    "owner_changes",
                    "field_changes",
                    "activity_log",
                    "probability",
                    "weighted_minor",
                    "close_date",
                    "close_month",
                    "close_sort",
                    "stale_at",
                }
            ),
        ),
        PIPELINES: Audited(
            "pipeline", frozenset({"previous", "created_at", "updated_at", "updated_by"})
        ),
    },
)
# The read index (store/indexed.py): DEALS_INDEX, DEALS_INDEX_REBUILD_SECONDS,
# DEALS_INDEX_CHANGE_LOG
# (`crm_kit.settings.IndexSettings`).
INDEX_PREFIX = "DEALS"
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


# Import batches one deals process takes at once (`crm_kit.imports.batch_endpoint`): the
# next batch's rows are built while the database writes the one before; their writes
# still go one batch after another, in the order the batches came.
DEFAULT_IMPORT_BATCHES_AT_ONCE = 2


def import_batches_at_once() -> int:
    raw = os.environ.get("DEALS_IMPORT_BATCHES_AT_ONCE")
    return max(1, int(raw)) if raw else DEFAULT_IMPORT_BATCHES_AT_ONCE


def load_settings() -> Settings:
    settings = Settings.from_env(SERVICE)
    if not os.environ.get("OUTBOX_SWEEP_SECONDS"):
        settings = replace(settings, outbox_sweep_seconds=DEFAULT_SWEEP_SECONDS)
    return with_index_env(settings, INDEX_PREFIX)


# The durable consumer keeping this service's view of teams and sharing settings.
ACCESS_VIEW_CONSUMER = "deals-access-view"

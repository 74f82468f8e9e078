"""Service constants, collection names and settings."""

from __future__ import annotations

import os

from crm_kit.audit import Audited, AuditPolicy
from crm_kit.settings import Settings, with_index_env

SERVICE = "tasks"
SOURCE = "crm/tasks"
VERSION = "1.0.0"
# The read index (store/indexed.py): TASKS_INDEX, TASKS_INDEX_REBUILD_SECONDS,
# TASKS_INDEX_CHANGE_LOG.
INDEX_PREFIX = "TASKS"

TASKS = "tasks"
TEAMS = "teams"
# One document per workspace: its sharing settings (crm_kit.sharing), with their events.
ACCESS_SETTINGS = "access_settings"
RULES = "automation_rules"
RUNS = "rule_runs"
# A run's settled result, stored once under the run's id with the notifications it sends.
RUN_RESULTS = "rule_run_results"
OUTCOMES = "deal_outcomes"
# Round-robin turns: one document per turn, taken by inserting it.
SLOTS = "round_robin_slots"
# One entry per unfired reminder / due time: the scheduler's queue.
SCHEDULE = "schedule"
# One document per reminder or overdue notice fired, with its events.
FIRES = "scheduled_fires"
# One small document per deal listing its task ids (the embedded database's look-up of a
# deal's tasks); a playbook's task.created events ride in it.
DEAL_TASKS = "deal_tasks"
META = "tasks_meta"
# One outbox document per import batch: its tasks' events and audit entries
# (`DocumentWriter.insert_batch`), published with one read and one write.
IMPORT_BATCHES = "import_batches"
# Collections whose documents carry an outbox (teams and rules: for their audit entries,
# which the relay moves).
OUTBOX_COLLECTIONS = (
    TASKS, FIRES, RUN_RESULTS, DEAL_TASKS, TEAMS, ACCESS_SETTINGS, RULES, IMPORT_BATCHES,
)  # fmt: skip
# The records whose changes the audit log keeps (crm_kit.audit), without derived fields,
# versions and stamps. Nor the scheduler's sent flags: firing a reminder or an overdue
# notice is recorded (`scheduled_fires`) and announced by events of its own, and an entry
# for the flag cost two more write statements per firing (the relay's move of it).
_STAMPS = frozenset({"created_at", "updated_at", "created_by"})
_SCHEDULER_FLAGS = frozenset({"reminder_sent", "overdue_sent"})
AUDIT = AuditPolicy(
    SERVICE,
    {
        TASKS: Audited(
            "task",
            _STAMPS | _SCHEDULER_FLAGS | {"version", "due_sort", "priority_rank", "idem_key"},
        ),
        TEAMS: Audited("team", _STAMPS | {"rr_hint"}),
        RULES: Audited("rule", _STAMPS),
    },
)


# The durable consumer keeping this service's view of teams and sharing settings.
ACCESS_VIEW_CONSUMER = "tasks-access-view"


def load_settings() -> Settings:
    return with_index_env(Settings.from_env(SERVICE), INDEX_PREFIX)


def scheduler_interval() -> float:
    """Seconds between reminder/overdue passes (TASKS_SCHEDULER_INTERVAL, default 1)."""
    return float(os.environ.get("TASKS_SCHEDULER_INTERVAL", "1.0"))

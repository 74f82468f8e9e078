"""The store a service runs: the port over some records, with the embedded database's
read models where the profile asks for the workarounds (the deal lists, the schedule hint,
and, unless turned off, the read index)."""

from __future__ import annotations

from crm_kit.change_log import Journal
from crm_kit.records import RecordSource
from crm_kit.writer import WriteHooks

from .deal_lists import DealListStore
from .indexed import IndexedStore
from .port import TasksStore
from .schedule import ScheduleHint
from .store import RecordStore


def tasks_store(
    source: RecordSource,
    hooks: WriteHooks,
    *,
    workarounds: bool,
    index: bool = True,
    live: bool = True,
    journal: Journal | None = None,
) -> TasksStore:
    """`index`: serve lists from the read index (with the workarounds only); `live=False`
    keeps it unused until its event feed is subscribed; `journal`: the change logs with
    which the indexes hold whole tasks and deal lists."""
    if not workarounds:
        return RecordStore(source)
    if index:
        return IndexedStore(source, hooks, schedule_hint=ScheduleHint(), live=live, journal=journal)
    return DealListStore(source, schedule_hint=ScheduleHint())

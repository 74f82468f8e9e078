"""The store a service runs: the port over some records, with the embedded database's
read models where the profile asks for the workarounds (the email and domain claims,
and, unless turned off, the list indexes)."""

from __future__ import annotations

from crm_kit.change_log import Journal
from crm_kit.records import RecordSource
from crm_kit.writer import WriteHooks

from .email_claims import ClaimedRecordStore
from .indexed import IndexedStore
from .port import ContactsStore
from .store import RecordStore


def contacts_store(
    source: RecordSource,
    hooks: WriteHooks,
    *,
    workarounds: bool,
    index: bool = True,
    live: bool = True,
    journal: Journal | None = None,
) -> ContactsStore:
    """`index`: serve lists from the read indexes (with the workarounds only);
    `live=False` keeps them unused until their event feeds are subscribed; `journal`:
    the change logs with which the indexes hold whole documents."""
    if not workarounds:
        return RecordStore(source)
    if index:
        return IndexedStore(source, hooks, live=live, journal=journal)
    return ClaimedRecordStore(source, hooks)

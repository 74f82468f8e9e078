"""The store a service runs: the port over some records, with the embedded database's
read model where the profile asks for the workarounds."""

from __future__ import annotations

from crm_kit.records import RecordSource
from crm_kit.writer import WriteHooks

from .email_claims import ClaimedRecordStore
from .port import ContactsStore
from .store import RecordStore


def contacts_store(source: RecordSource, hooks: WriteHooks, *, workarounds: bool) -> ContactsStore:
    if workarounds:
        return ClaimedRecordStore(source, hooks)
    return RecordStore(source)

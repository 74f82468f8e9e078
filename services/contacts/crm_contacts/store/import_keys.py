"""Identity keys for imports on the embedded database (the `ferretdb` profile only).

An import batch asks which of up to a thousand external ids, domains or addresses exist.
On FerretDB's SQLite backend a filter on them scans the collection and evaluates the
`$in` list for every document: seconds a batch once a workspace holds tens of thousands
of records. This read model keeps, per process and workspace, each live record's identity
keys -> its id (`crm_kit.held_keys.HeldKeys`: loaded by one projected scan the first time
a workspace is asked, scanned again in the background when older than `MAX_AGE_SECONDS`,
which bounds what another replica's writes can hide, while the held keys serve), kept
current by this process's writes (a write hook). A key found is verified against the
record it names (`get` by id); the unique indexes on `domain_key` and `email_key` remain
the guards, and an external id another replica wrote since the load may be missed (two
replicas importing the same external ids at once; documented in the service's README).

On MongoDB (the `mongodb` profile) none of this runs: the indexes answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from crm_kit.filters import Filter
from crm_kit.held_keys import HeldKeys
from crm_kit.records import RecordSource, RecordType
from crm_kit.writer import Written

from ..domain.company import Company
from ..domain.contact import Contact
from ..domain.interaction import Interaction

MAX_AGE_SECONDS = 300.0
Key = tuple[str, str]
# The kind of key several records may share: the first one held keeps it.
NAME = "name"


def company_keys(company: Company) -> list[Key]:
    if company.deleted:
        return []
    keys = [("external_id", company.external_id)] if company.external_id else []
    keys += [("domain", company.domain)] if company.domain else []
    # Not unique: the first company held under a name answers for it (an import that
    # identifies companies by name, `CompanySink(by_name=True)`).
    return keys + ([(NAME, company.name_key)] if company.name_key else [])


def contact_keys(contact: Contact) -> list[Key]:
    if contact.deleted or contact.merged_into:
        return []
    keys = [("external_id", contact.external_id)] if contact.external_id else []
    return keys + [("email", email) for email in contact.emails]


def interaction_keys(interaction: Interaction) -> list[Key]:
    if interaction.removed or not interaction.external_id:
        return []
    return [("external_id", interaction.external_id)]


@dataclass
class _Workspace:
    ids: dict[Key, str] = field(default_factory=dict)
    keys_of: dict[str, list[Key]] = field(default_factory=dict)

    def put(self, record_id: str, keys: list[Key]) -> None:
        for key in self.keys_of.pop(record_id, []):
            if self.ids.get(key) == record_id:
                del self.ids[key]
        if keys:
            self.keys_of[record_id] = keys
            for key in keys:
                if key[0] == NAME:
                    self.ids.setdefault(key, record_id)
                else:
                    self.ids[key] = record_id


@dataclass(frozen=True)
class KeyedCollection:
    kind: RecordType[Any]
    # What a live record is (the load's filter).
    live: Filter
    keys: Callable[[Any], list[Key]]


class ImportKeys:
    def __init__(self, source: RecordSource, kinds: Iterable[KeyedCollection]) -> None:
        self.source = source
        self.kinds = {kind.kind.collection: kind for kind in kinds}
        self._held: HeldKeys[tuple[str, str], _Workspace] = HeldKeys(
            _Workspace, self._scan, max_age=MAX_AGE_SECONDS, name="import keys"
        )

    async def on_write(self, written: Written) -> None:
        kind = self.kinds.get(written.collection)
        if kind is None or written.workspace_id is None:
            return
        key = (written.collection, written.workspace_id)
        if not written.deleted and written.record is None:
            self._held.forget(key)  # a partial update: its keys are read again at next ask
            return
        keys = [] if written.deleted else kind.keys(written.record)
        for held in self._held.held(key):
            held.put(str(written.doc_id), keys)

    async def ids(self, collection: str, workspace_id: str, keys: Sequence[Key]) -> list[str]:
        held = await self._held.get((collection, workspace_id))
        return list(dict.fromkeys(held.ids[key] for key in keys if key in held.ids))

    async def _scan(self, where: tuple[str, str], fresh: _Workspace) -> None:
        collection, workspace_id = where
        kind = self.kinds[collection]
        async for record in self.source.records(kind.kind, workspace_id).scan(kind.live):
            if record.id not in fresh.keys_of:  # a write during the scan is newer
                fresh.put(record.id, kind.keys(record))

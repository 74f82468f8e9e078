"""Each service's projection of who is in which team and of the workspace's sharing
settings, fed by the tasks service's events (`crm.tasks.team.changed.v1`,
`crm.tasks.access_settings.changed.v1`): what `crm_kit.sharing` needs to decide which
records a caller sees, read locally (one `_id` look-up per request) instead of asking the
tasks service on every read.

One document per workspace (`_id` = the workspace) holds every team's manager and members
and the settings. Events are applied in their own order, not the delivery's: a team's
version is its `updated_at`, the settings' their `version`; an older or repeated event
changes nothing, so the consumer needs no processed-event records.

Applying an event is a join (per team the latest `updated_at`, the settings of the highest
`version`): any two copies that saw the same events in any order are equal, and joining a
copy with the stored document loses nothing either held. So a process may hold the view
(`AccessViews.hold`, fed by `crm_kit.access_feed`, every instance hearing every event):
the held copy is the stored document read once per workspace, joined with every event the
process heard, and answers requests without a database read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase

from crm_contracts import tasks as contract

from .context import RequestContext
from .inbound import Delivery, Subscription
from .records import Change, Duplicate, Records, RecordType
from .sharing import (
    RECORD_TYPES,
    Access,
    AccessSettings,
    TeamMembers,
    access_of,
    full_access,
    sees_everything,
)

ACCESS_VIEWS = "access_views"


@dataclass
class TeamEntry:
    id: str
    manager_id: str | None
    member_ids: list[str]
    updated_at: datetime


@dataclass
class AccessView:
    workspace_id: str
    teams: dict[str, TeamEntry] = field(default_factory=dict)
    settings: AccessSettings = field(default_factory=AccessSettings)
    version: int = 0

    def members(self) -> list[TeamMembers]:
        return [TeamMembers(t.id, t.manager_id, tuple(t.member_ids)) for t in self.teams.values()]

    def set_team(self, team: TeamEntry) -> bool:
        """`team` unless this view has it at the same or a later version (whether it
        changed)."""
        known = self.teams.get(team.id)
        if known is not None and known.updated_at >= team.updated_at:
            return False
        self.teams[team.id] = team
        return True

    def set_settings(self, settings: AccessSettings) -> bool:
        """`settings` unless this view has them at the same or a later version."""
        if self.settings.version >= settings.version:
            return False
        self.settings = settings
        return True

    def join(self, other: AccessView) -> bool:
        """Everything `other` knows that this view does not (whether anything changed)."""
        changed = False
        for team in other.teams.values():
            changed = self.set_team(_copy(team)) or changed
        return self.set_settings(other.settings) or changed


def _copy(team: TeamEntry) -> TeamEntry:
    return TeamEntry(team.id, team.manager_id, list(team.member_ids), team.updated_at)


def team_entry(team: contract.TeamChanged) -> TeamEntry:
    return TeamEntry(team.id, team.manager_id, list(team.member_ids), team.updated_at)


def settings_of(settings: contract.AccessSettingsChanged) -> AccessSettings:
    return AccessSettings.from_doc(settings.model_dump())


def _to_doc(view: AccessView) -> dict[str, Any]:
    return {
        "_id": view.workspace_id,
        "workspace_id": view.workspace_id,
        "teams": [
            {
                "id": t.id,
                "manager_id": t.manager_id,
                "member_ids": list(t.member_ids),
                "updated_at": t.updated_at,
            }
            for t in view.teams.values()
        ],
        "settings": view.settings.to_doc(),
        "version": view.version,
    }


def _from_doc(doc: Mapping[str, Any]) -> AccessView:
    teams = {
        t["id"]: TeamEntry(
            t["id"], t.get("manager_id"), list(t.get("member_ids") or []), t["updated_at"]
        )
        for t in doc.get("teams") or []
    }
    return AccessView(
        workspace_id=doc["workspace_id"],
        teams=teams,
        settings=AccessSettings.from_doc(doc.get("settings")),
        version=int(doc.get("version") or 0),
    )


ACCESS_VIEW: RecordType[AccessView] = RecordType(ACCESS_VIEWS, _to_doc, _from_doc, versioned=True)


class Source(Protocol):
    def records(self, kind: RecordType[Any], workspace_id: str | None) -> Records[Any]: ...


# Callers' accesses kept per held workspace (beyond it the workspace's are dropped: a
# workspace's callers are its members, a few hundred at most in practice).
ACCESSES_KEPT = 4096


@dataclass
class _Held:
    """A workspace's view as this process holds it: the events heard, joined with the
    stored document once `loaded`; and the accesses worked out from it."""

    view: AccessView
    loaded: bool = False
    accesses: dict[RequestContext, Access] = field(default_factory=dict)


class AccessViews:
    """The projection on a record source (MongoDB, or the in-memory database); once
    `hold()` is called (by the feed that hears every access event, `crm_kit.access_feed`),
    each workspace's view is read once and then kept in this process."""

    def __init__(self, source: Source, record_types: Sequence[str] = RECORD_TYPES) -> None:
        self.source = source
        self.record_types = tuple(record_types)
        self._held: dict[str, _Held] | None = None
        self._loading: dict[str, asyncio.Future[None]] = {}
        self.reads = 0  # stored documents read (tests count them)

    @property
    def holding(self) -> bool:
        return self._held is not None

    def hold(self) -> None:
        """Keep the views in this process from now on. Only once every access event from
        now on reaches `heard_team` / `heard_settings`: the feed is subscribed."""
        if self._held is None:
            self._held = {}

    def release(self) -> None:
        """Stop holding (the feed stopped): read per request again."""
        self._held = None
        self._loading.clear()

    async def _read(self, workspace_id: str) -> AccessView:
        self.reads += 1
        found = await self.source.records(ACCESS_VIEW, workspace_id).get([workspace_id])
        return found[0] if found else AccessView(workspace_id)

    async def view(self, workspace_id: str) -> AccessView:
        """The workspace's view: held (the stored document joined with the events heard
        since the feed subscribed), or read."""
        if self._held is None:
            return await self._read(workspace_id)
        held = self._held.get(workspace_id)
        if held is None or not held.loaded:
            held = await self._load(workspace_id)
        return held.view

    async def _load(self, workspace_id: str) -> _Held:
        """Read the stored document once for concurrent first requests and join it with
        what the events brought meanwhile (a join: their order does not matter)."""
        while True:
            held = self._held.get(workspace_id) if self._held is not None else None
            if held is not None and held.loaded:
                return held
            if self._held is None:  # released meanwhile: read as without holding
                return _Held(await self._read(workspace_id), loaded=True)
            waiting = self._loading.get(workspace_id)
            if waiting is None:
                break
            # Whatever became of that read (a failure too): look again.
            await asyncio.wait([waiting])
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._loading[workspace_id] = done
        try:
            stored = await self._read(workspace_id)
        finally:
            self._loading.pop(workspace_id, None)
            done.set_result(None)
        self._join(workspace_id, stored, loaded=True)
        held = self._held.get(workspace_id) if self._held is not None else None
        return held if held is not None else _Held(stored, loaded=True)

    def _entry(self, workspace_id: str) -> _Held | None:
        if self._held is None:
            return None
        held = self._held.get(workspace_id)
        if held is None:
            held = self._held[workspace_id] = _Held(AccessView(workspace_id))
        return held

    def _join(self, workspace_id: str, stored: AccessView, *, loaded: bool) -> None:
        held = self._entry(workspace_id)
        if held is None:
            return
        if held.view.join(stored):
            held.accesses.clear()
        held.loaded = held.loaded or loaded

    async def reload(self) -> int:
        """Join every loaded workspace's stored document into the held copy again (after a
        gap in the feed, and periodically: what another replica's consumer stored that
        this process did not hear). The number of workspaces read."""
        if self._held is None:
            return 0
        loaded = [ws for ws, held in self._held.items() if held.loaded]
        for workspace_id in loaded:
            self._join(workspace_id, await self._read(workspace_id), loaded=True)
        return len(loaded)

    def heard_team(self, workspace_id: str, team: contract.TeamChanged) -> None:
        """A team event, applied to the held copy at once (nothing when not holding)."""
        held = self._entry(workspace_id)
        if held is not None and held.view.set_team(team_entry(team)):
            held.accesses.clear()

    def heard_settings(self, workspace_id: str, settings: contract.AccessSettingsChanged) -> None:
        """A settings event, applied to the held copy at once (nothing when not holding)."""
        held = self._entry(workspace_id)
        if held is not None and held.view.set_settings(settings_of(settings)):
            held.accesses.clear()

    async def access(self, caller: RequestContext) -> Access:
        """What `caller` sees in its workspace (kept per caller while the view held does
        not change)."""
        view = await self.view(caller.workspace_id)
        held = self._held.get(caller.workspace_id) if self._held is not None else None
        if held is None or held.view is not view:
            return access_of(caller, view.settings, view.members(), self.record_types)
        found = held.accesses.get(caller)
        if found is None:
            if len(held.accesses) >= ACCESSES_KEPT:
                held.accesses.clear()
            found = access_of(caller, view.settings, view.members(), self.record_types)
            held.accesses[caller] = found
        return found

    async def team_changed(self, workspace_id: str, team: contract.TeamChanged) -> None:
        """The durable consumer's: stored, and held here at once (before the write: the
        event happened whatever the write's fate, and a redelivery applies it again)."""
        self.heard_team(workspace_id, team)

        async def apply(view: AccessView) -> bool:
            return view.set_team(team_entry(team))

        await self._change(workspace_id, apply)

    async def settings_changed(
        self, workspace_id: str, settings: contract.AccessSettingsChanged
    ) -> None:
        self.heard_settings(workspace_id, settings)

        async def apply(view: AccessView) -> bool:
            return view.set_settings(settings_of(settings))

        await self._change(workspace_id, apply)

    async def _change(self, workspace_id: str, apply: Change[AccessView]) -> None:
        records = self.source.records(ACCESS_VIEW, workspace_id)
        if await records.change(workspace_id, apply) is not None:
            return
        fresh = AccessView(workspace_id)
        if not await apply(fresh):
            return
        try:
            await records.insert(fresh)
        except Duplicate:  # a replica created it meanwhile: apply to theirs
            await records.change(workspace_id, apply)


def access_subscription(durable: str, views: AccessViews) -> Subscription:
    """The durable consumer that keeps `views` current (ordered by the events' own
    versions, so idempotent without processed-event records)."""

    async def team(delivery: Delivery[contract.TeamChanged]) -> None:
        await views.team_changed(delivery.workspace, delivery.payload)

    async def settings(delivery: Delivery[contract.AccessSettingsChanged]) -> None:
        await views.settings_changed(delivery.workspace, delivery.payload)

    subscription = Subscription(durable, record_processed=False)
    subscription.on(contract.TeamChanged, team)
    subscription.on(contract.AccessSettingsChanged, settings)
    return subscription


class CallerAccess:
    """One caller's access, read from the projection at most once (a scope's span: one
    request or one event). Admins and the services' own callers see everything: nothing
    is read for them; nor without a projection (the unit tests' plain stores)."""

    def __init__(self, views: AccessViews | None, caller: RequestContext) -> None:
        self._views = views
        self._caller = caller
        self._access: Access | None = None

    @property
    def known(self) -> Access | None:
        """The access once read (None: not yet), for resolvers that answer without
        awaiting when it is known: a field of each of a page's rows, checked per row."""
        return self._access

    async def get(self) -> Access:
        if self._access is None:
            if self._views is None or sees_everything(self._caller):
                self._access = full_access(self._caller)
            else:
                self._access = await self._views.access(self._caller)
        return self._access


async def audit_retention_by_workspace(db: AsyncDatabase[Any]) -> dict[str, timedelta]:
    """The workspaces whose admin chose how long the audit log is kept (workspace ->
    period), as this service's projection has them (`crm_kit.retention`, the janitor). One
    small document per workspace; a service without the projection has none."""
    chosen: dict[str, timedelta] = {}
    async for doc in db[ACCESS_VIEWS].find({}, {"settings.audit_retention_days": 1}):
        days = (doc.get("settings") or {}).get("audit_retention_days")
        if isinstance(days, int | float) and days > 0:
            chosen[str(doc["_id"])] = timedelta(days=days)
    return chosen

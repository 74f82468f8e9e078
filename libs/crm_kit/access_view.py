"""Each service's projection of who is in which team and of the workspace's sharing
settings, fed by the tasks service's events (`crm.tasks.team.changed.v1`,
`crm.tasks.access_settings.changed.v1`): what `crm_kit.sharing` needs to decide which
records a caller sees, read locally (one `_id` look-up per request) instead of asking the
tasks service on every read.

One document per workspace (`_id` = the workspace) holds every team's manager and members
and the settings. Events are applied in their own order, not the delivery's: a team's
version is its `updated_at`, the settings' their `version`; an older or repeated event
changes nothing, so the consumer needs no processed-event records.
"""

from __future__ import annotations

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


class AccessViews:
    """The projection on a record source (MongoDB, or the in-memory database)."""

    def __init__(self, source: Source, record_types: Sequence[str] = RECORD_TYPES) -> None:
        self.source = source
        self.record_types = tuple(record_types)

    async def view(self, workspace_id: str) -> AccessView:
        found = await self.source.records(ACCESS_VIEW, workspace_id).get([workspace_id])
        return found[0] if found else AccessView(workspace_id)

    async def access(self, caller: RequestContext) -> Access:
        """What `caller` sees in its workspace."""
        view = await self.view(caller.workspace_id)
        return access_of(caller, view.settings, view.members(), self.record_types)

    async def team_changed(self, workspace_id: str, team: contract.TeamChanged) -> None:
        async def apply(view: AccessView) -> bool:
            known = view.teams.get(team.id)
            if known is not None and known.updated_at >= team.updated_at:
                return False
            view.teams[team.id] = TeamEntry(
                team.id, team.manager_id, list(team.member_ids), team.updated_at
            )
            return True

        await self._change(workspace_id, apply)

    async def settings_changed(
        self, workspace_id: str, settings: contract.AccessSettingsChanged
    ) -> None:
        async def apply(view: AccessView) -> bool:
            if view.settings.version >= settings.version:
                return False
            view.settings = AccessSettings.from_doc(settings.model_dump())
            return True

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

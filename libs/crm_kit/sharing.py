"""Record-level read access and field-level permissions: one policy for every service
(issue 9.6, the read side; `crm_kit.access` is the write side).

Each workspace sets, per record type (`RECORD_TYPES`), how widely records are shared
with reps (Salesforce's organisation-wide defaults):

- `everyone` (the default): every member of the workspace sees every record;
- `team`: a rep sees the records held by the members of the teams they belong to;
- `own`: a rep sees only the records they hold.

A record is *held* by the people its holder fields name (a deal's owner; a task's
assignee and creator; a contact's or company's owner). A record nobody holds is the
workspace's and visible to all, as it is open to every writer.

Whatever the setting, an admin sees every record and a manager sees, besides what the
setting shows a rep, the records held by the members of the teams they manage (theirs
included). Under `everyone` nothing is hidden from anyone.

Sensitive fields (`SENSITIVE_FIELDS`) are readable by the roles the workspace names for
each (default: every role). Admins always read them.

The same settings carry the workspace's audit retention (`audit_retention_days`, admins
set it; None: the platform's AUDIT_RETENTION_DAYS): they reach every service the same way,
and each service's janitor deletes the workspace's older audit entries
(`crm_kit.retention`).

The policy is pure: the caller, the workspace's `AccessSettings` and its teams go in;
a `Visibility` comes out, which compiles to one `crm_kit.filters.Filter` (so lists,
counts and boards push it down to MongoDB, the in-memory fake and the read indexes
alike) and checks a single record (gets, references, live events).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .context import ROLES, RequestContext
from .errors import BadUserInput, Forbidden
from .filters import And, Eq, Filter, In, Or

EVERYONE, TEAM, OWN = "everyone", "team", "own"
LEVELS = (EVERYONE, TEAM, OWN)
RECORD_TYPES = ("deal", "contact", "task")
# Sensitive fields, named `<record type>.<API field>`; a deal's amount covers every money
# field derived from it (weighted amount, converted amounts).
SENSITIVE_FIELDS = ("deal.amount", "contact.email", "contact.phone")
# Roles that see every record and every field.
SEES_ALL = ("admin",)
# The platform's services act as `service:<name>` (in a verified assertion) and see every
# record and field, whatever role they carry: they match, sync and automate for everyone.
SERVICE_PREFIX = "service:"
# How long a workspace may keep its audit log, in days (its admin's choice).
AUDIT_RETENTION_DAYS_RANGE = (1, 3650)


@dataclass(frozen=True)
class TeamMembers:
    """A team as the policy needs it: who manages it and who is in it."""

    id: str
    manager_id: str | None
    member_ids: tuple[str, ...]


@dataclass(frozen=True)
class AccessSettings:
    """A workspace's sharing levels (record type -> level; absent: `everyone`) and field
    permissions (sensitive field -> the roles that may read it; absent: every role)."""

    sharing: Mapping[str, str] = field(default_factory=dict)
    field_roles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    version: int = 0
    # Days the workspace's audit entries are kept (None: the platform's setting).
    audit_retention_days: int | None = None

    def level(self, record_type: str) -> str:
        return self.sharing.get(record_type, EVERYONE)

    def roles_for(self, sensitive_field: str) -> frozenset[str]:
        return self.field_roles.get(sensitive_field, frozenset(ROLES))

    def to_doc(self) -> dict[str, Any]:
        # Field names hold a `.`, which a stored key may not: a list of entries.
        return {
            "sharing": dict(self.sharing),
            "field_roles": [
                {"field": name, "roles": sorted(roles)} for name, roles in self.field_roles.items()
            ],
            "version": self.version,
            "audit_retention_days": self.audit_retention_days,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any] | None) -> AccessSettings:
        if not doc:
            return DEFAULT_SETTINGS
        roles = doc.get("field_roles") or []
        entries = (
            roles.items()
            if isinstance(roles, Mapping)
            else [(entry["field"], entry["roles"]) for entry in roles]
        )
        return cls(
            sharing={k: v for k, v in (doc.get("sharing") or {}).items() if v in LEVELS},
            field_roles={name: frozenset(given) for name, given in entries},
            version=int(doc.get("version") or 0),
            audit_retention_days=_days(doc.get("audit_retention_days")),
        )


DEFAULT_SETTINGS = AccessSettings()


def _days(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and value > 0 else None


def validate_audit_retention(days: int | None) -> int | None:
    """BAD_USER_INPUT naming `days` outside AUDIT_RETENTION_DAYS_RANGE (None: back to the
    platform's setting)."""
    low, high = AUDIT_RETENTION_DAYS_RANGE
    if days is not None and not low <= days <= high:
        raise BadUserInput(f"must be between {low} and {high} days", field="days")
    return days


def validate_level(record_type: str, level: str) -> None:
    if record_type not in RECORD_TYPES:
        raise BadUserInput(f"recordType must be one of {RECORD_TYPES}", field="recordType")
    if level not in LEVELS:
        raise BadUserInput(f"level must be one of {LEVELS}", field="level")


def validate_field_roles(sensitive_field: str, roles: Sequence[str]) -> frozenset[str]:
    if sensitive_field not in SENSITIVE_FIELDS:
        raise BadUserInput(f"field must be one of {SENSITIVE_FIELDS}", field="field")
    unknown = [role for role in roles if role not in ROLES]
    if unknown:
        raise BadUserInput(f"roles must be among {ROLES}", field="roles")
    return frozenset(roles) | frozenset(SEES_ALL)


@dataclass(frozen=True)
class Visibility:
    """Which records of one type a caller sees: those held by `holders` (and those nobody
    holds); every record when `holders` is None."""

    holders: frozenset[str] | None

    @property
    def everything(self) -> bool:
        return self.holders is None

    def filter(self, holder_fields: Sequence[str]) -> Filter | None:
        """The records visible, as a filter over the stored holder fields (None: all)."""
        if self.holders is None:
            return None
        names = sorted(self.holders)
        return Or(
            *(In(name, names) for name in holder_fields),
            And(*(Eq(name, None) for name in holder_fields)),
        )

    def sees(self, holders: Iterable[str | None]) -> bool:
        """Whether a record with these holder values (None where unset) is visible."""
        if self.holders is None:
            return True
        named = [holder for holder in holders if holder]
        return not named or any(holder in self.holders for holder in named)


EVERYTHING = Visibility(None)


def visibility(caller: RequestContext, level: str, teams: Iterable[TeamMembers] = ()) -> Visibility:
    """What `caller` sees of a record type shared at `level` in a workspace with `teams`."""
    if level == EVERYONE or sees_everything(caller):
        return EVERYTHING
    me = caller.subject
    holders = {me}
    manages = caller.has_role("manager")
    for team in teams:
        if (manages and team.manager_id == me) or (level == TEAM and me in team.member_ids):
            holders.update(team.member_ids)
            if team.manager_id:
                holders.add(team.manager_id)
    return Visibility(frozenset(holders))


def readable_fields(caller: RequestContext, settings: AccessSettings) -> frozenset[str]:
    """The sensitive fields `caller` may read."""
    if sees_everything(caller):
        return frozenset(SENSITIVE_FIELDS)
    return frozenset(name for name in SENSITIVE_FIELDS if caller.roles & settings.roles_for(name))


@dataclass(frozen=True)
class Access:
    """One caller's access in one workspace, worked out once per request: the records of
    each type it sees and the sensitive fields it reads."""

    caller: RequestContext
    visible: Mapping[str, Visibility]
    fields: frozenset[str]

    def of(self, record_type: str) -> Visibility:
        return self.visible.get(record_type, EVERYTHING)

    def reads(self, sensitive_field: str) -> bool:
        return sensitive_field in self.fields

    def require_field(self, sensitive_field: str, api_field: str) -> None:
        """FORBIDDEN naming `api_field` (a filter or an order on it) unless readable:
        filtering or sorting by a hidden field would tell its values."""
        if not self.reads(sensitive_field):
            raise Forbidden(
                f"your role may not read {sensitive_field.split('.', 1)[1]}", field=api_field
            )


def access_of(
    caller: RequestContext,
    settings: AccessSettings,
    teams: Iterable[TeamMembers],
    record_types: Iterable[str] = RECORD_TYPES,
) -> Access:
    team_list = tuple(teams)
    return Access(
        caller,
        {kind: visibility(caller, settings.level(kind), team_list) for kind in record_types},
        readable_fields(caller, settings),
    )


def sees_everything(caller: RequestContext) -> bool:
    """Admins and the platform's services: nothing is hidden from them."""
    return caller.has_role(*SEES_ALL) or caller.subject.startswith(SERVICE_PREFIX)


def full_access(caller: RequestContext) -> Access:
    """Every record and field: the services' own callers and the default workspace."""
    return Access(caller, {}, frozenset(SENSITIVE_FIELDS))

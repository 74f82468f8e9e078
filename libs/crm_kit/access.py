"""Record-level write access: one policy for every service (issue 9.6, the write side).

Who may change a record, once the role allows writing at all (`RequestContext.can_write`):

- admins: every record;
- managers: every record of the workspace. No service but tasks knows the teams, and a
  manager's handover of a deal must carry the deal's tasks with it, so the rule is the same
  in every service: team-scoped management belongs with the read-sharing setting;
- reps: the records they hold, i.e. whose holder fields name them (a deal's owner; a
  task's assignee or creator; a contact's or company's owner). A holder may pass the
  record on (a new owner or assignee); a rep may never take over someone else's record. A
  record nobody holds (a contact without owner) is the workspace's, open to every writer.

Fields the system derives (a deal's `modelProbability`, which feeds the forecasts) are
written only by the system (the services' consumers and jobs, which act as admin) or an
admin.

Every check runs before anything is written and raises FORBIDDEN naming the field, so a
refused change changes nothing. A record the caller cannot even see (record sharing,
`crm_kit.sharing`) is NOT_FOUND instead, exactly as an id that names nothing: FORBIDDEN
would tell that the id exists (`require_change_visible`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .context import RequestContext
from .errors import Forbidden, NotFound
from .sharing import Visibility

# Roles that may change any record of their workspace.
UNRESTRICTED_ROLES = ("admin", "manager")
# Roles that may set system-derived fields (the services' own callers carry admin).
SYSTEM_ROLES = ("admin",)


def may_change(caller: RequestContext, holders: Iterable[str | None]) -> bool:
    """Whether `caller` may change a record held by `holders` (owner, assignee, creator;
    None where a record has none)."""
    if not caller.can_write:
        return False
    if caller.has_role(*UNRESTRICTED_ROLES):
        return True
    named = {holder for holder in holders if holder}
    return not named or caller.subject in named


def require_change(
    caller: RequestContext, holders: Iterable[str | None], *, kind: str, field: str = "id"
) -> None:
    """FORBIDDEN unless `caller` may change the record (see `may_change`)."""
    if not may_change(caller, holders):
        raise Forbidden(
            f"only the {kind}'s owner or assignee, a manager or an admin may change it",
            field=field,
        )


def require_change_visible(
    caller: RequestContext,
    seen: Visibility,
    holders: Iterable[str | None],
    *,
    kind: str,
    not_found: NotFound,
    field: str = "id",
) -> None:
    """`not_found` (the very error the caller gets for an id that names nothing) unless the
    caller sees the record; then FORBIDDEN unless the caller may change it."""
    named = tuple(holders)
    if not seen.sees(named):
        raise not_found
    require_change(caller, named, kind=kind, field=field)


def require_system_fields(caller: RequestContext, given: Mapping[str, bool]) -> None:
    """FORBIDDEN naming the first system field given (client field name -> whether the
    change sets it) unless the caller is the system or an admin."""
    if caller.has_role(*SYSTEM_ROLES):
        return
    for field, is_given in given.items():
        if is_given:
            raise Forbidden(
                f"{field.rsplit('.', 1)[-1]} is set by the system; only admins may change it",
                field=field,
            )

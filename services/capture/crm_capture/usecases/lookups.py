"""Reading what was captured: emails by id and by list, meetings, web sessions of a
contact."""

from __future__ import annotations

from collections.abc import Sequence

from crm_kit.pagination import Page

from ..domain.email import CapturedEmail
from ..domain.meeting import CapturedMeeting, meeting_record_id
from ..domain.queries import EmailQuery
from ..domain.tracking import VisitSession
from .scope import Scope

MAX_SESSIONS = 100


async def emails_by_ids(scope: Scope, ids: Sequence[str]) -> dict[str, CapturedEmail]:
    return {e.id: e for e in await scope.store.get_emails(list(ids))}


async def list_emails(scope: Scope, query: EmailQuery) -> Page[CapturedEmail]:
    return await scope.store.list_emails(query)


async def meeting_by_uid(scope: Scope, uid: str) -> CapturedMeeting | None:
    return await scope.store.get_meeting(meeting_record_id(scope.workspace_id, uid))


async def sessions_of_contact(scope: Scope, contact_id: str, first: int) -> list[VisitSession]:
    return await scope.store.sessions_of_contact(contact_id, min(first, MAX_SESSIONS))

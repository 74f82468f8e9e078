"""Handlers for the tasks and contacts events this service reacts to.

Durable consumers: `deals-task-completed` on CRM_TASKS, `deals-contacts-sync` and
`deals-company-facts` on CRM_CONTACTS. Each handler validates the payload with the
producer's contract model and acts inside the event's workspace.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

from crm_contracts import contacts, tasks
from crm_contracts.envelope import CloudEvent
from crm_kit.consumer import Handler, PermanentFailure
from crm_kit.context import RequestContext

from ..store.documents import COMPANY_FACTS, DocumentStores
from ..store.protocol import StoreFactory
from ..usecases.activity import ActivityService
from ..usecases.company_facts import CompanyFactsService
from ..usecases.context import Actor, utc_now

TASK_SUBJECTS = [tasks.TASK_COMPLETED]
# The companies' attributes the win model reads (industry, size), kept in `company_facts`.
COMPANY_SUBJECTS = [
    contacts.COMPANY_CREATED,
    contacts.COMPANY_UPDATED,
    contacts.COMPANY_RESTORED,
    contacts.COMPANY_DELETED,
]
CONTACT_SUBJECTS = [
    contacts.INTERACTION_LOGGED,
    contacts.CONTACT_MERGED,
    contacts.CONTACT_DELETED,
    contacts.COMPANY_DELETED,
]


def _parse(model: type, event: CloudEvent):
    try:
        return model.model_validate(event.data)
    except ValidationError as error:
        raise PermanentFailure(f"{event.type}: invalid payload: {error}") from error


class Handlers:
    def __init__(
        self,
        stores: StoreFactory,
        notify: Callable[[str, str], None] = lambda c, i: None,
        documents: DocumentStores | None = None,
    ) -> None:
        self.stores = stores
        self.notify = notify
        self.documents = documents

    def _activity(self, event: CloudEvent) -> ActivityService:
        if not event.workspace:
            raise PermanentFailure("event has no workspace")
        actor = Actor(
            RequestContext(event.workspace, "service:deals", frozenset({"admin"})),
            clock=utc_now,
            notify=self.notify,
        )
        return ActivityService(self.stores.for_workspace(event.workspace), actor)

    async def task_completed(self, event: CloudEvent) -> None:
        payload: tasks.TaskCompleted = _parse(tasks.TaskCompleted, event)
        task = payload.task
        if not task.deal_id:
            return
        key = task.source.template_key if task.source.kind == "playbook" else None
        await self._activity(event).task_completed(task.deal_id, key, payload.completed_at)

    async def contacts_event(self, event: CloudEvent) -> None:
        handler = self._by_type().get(event.type)
        if handler is not None:
            await handler(event)

    def _by_type(self) -> dict[str, Handler]:
        return {
            contacts.INTERACTION_LOGGED: self.interaction_logged,
            contacts.CONTACT_MERGED: self.contact_merged,
            contacts.CONTACT_DELETED: self.contact_deleted,
            contacts.COMPANY_DELETED: self.company_deleted,
        }

    async def interaction_logged(self, event: CloudEvent) -> None:
        payload: contacts.InteractionLogged = _parse(contacts.InteractionLogged, event)
        await self._activity(event).interaction_logged(
            payload.deal_id, payload.contact_ids, payload.occurred_at
        )

    async def contact_merged(self, event: CloudEvent) -> None:
        payload: contacts.ContactMerged = _parse(contacts.ContactMerged, event)
        await self._activity(event).contact_merged(payload.merged_id, payload.survivor_id)

    async def contact_deleted(self, event: CloudEvent) -> None:
        payload: contacts.ContactDeleted = _parse(contacts.ContactDeleted, event)
        await self._activity(event).contact_deleted(payload.id)

    async def company_deleted(self, event: CloudEvent) -> None:
        payload: contacts.CompanyDeleted = _parse(contacts.CompanyDeleted, event)
        await self._activity(event).company_deleted(payload.id)

    async def company_facts(self, event: CloudEvent) -> None:
        """Keeps the company's industry and size for the win model (idempotent: a stale
        or repeated event never overwrites a newer one, `usecases/company_facts.py`)."""
        if not event.workspace:
            raise PermanentFailure("event has no workspace")
        if self.documents is None:
            return
        facts = CompanyFactsService(self.documents.collection(COMPANY_FACTS, event.workspace))
        if event.type == contacts.COMPANY_DELETED:
            deleted: contacts.CompanyDeleted = _parse(contacts.CompanyDeleted, event)
            await facts.deleted(deleted.id, event.time)
            return
        model = (
            contacts.CompanyUpdated
            if event.type == contacts.COMPANY_UPDATED
            else (contacts.CompanyCreated)
        )
        payload = _parse(model, event)
        company = payload.company
        await facts.upsert(
            company.id, company.industry, company.size, company.updated_at or event.time
        )

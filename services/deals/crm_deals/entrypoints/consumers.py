"""Events of other services this service reacts to, registered by payload model
(`crm_kit.inbound`): contract model -> handler, one `Subscription` per durable consumer.

- `deals-task-completed` (tasks): a completed task is activity on its deal, and its
  playbook key counts for the exit criteria;
- `deals-contacts-sync` (contacts): interactions are activity; merged, deleted contacts
  and deleted companies are re-pointed or marked on the deals;
- `deals-company-facts` (contacts): the companies' industry and size, kept for the win
  model (idempotent on the company's version time alone: no processed-event records).

Each handler acts inside the event's workspace as the service itself.
"""

from __future__ import annotations

from typing import Any

from crm_contracts import contacts, tasks
from crm_kit.inbound import Delivery, Subscription

from ..usecases import activity, company_facts
from ..usecases.scope import Scope, Scopes, service_caller

TASKS = "deals-task-completed"
CONTACTS = "deals-contacts-sync"
COMPANY_FACTS = "deals-company-facts"
# Company events the facts durable takes per fetch (at most; what is waiting): an import's
# burst of `company.created` is stored one insert per this many (it was one per 32: ~31
# of the 41 inserts per 1,000 companies FerretDB counted in a 100,000-company job; then
# 256: ~4.9 of 8.7). 1,000: an import batch's events, one fetch, one handler's span and
# one insert for them (the relay publishes a batch's thousand together).
FACTS_FETCH = 1000


def subscriptions(scopes: Scopes) -> list[Subscription]:
    def scope_of(delivery: Delivery[Any]) -> Scope:
        return scopes(service_caller(delivery.workspace))

    async def task_completed(delivery: Delivery[tasks.TaskCompleted]) -> None:
        task = delivery.payload.task
        if not task.deal_id:
            return
        key = task.source.template_key if task.source.kind == "playbook" else None
        await activity.task_completed(
            scope_of(delivery), task.deal_id, key, delivery.payload.completed_at
        )

    async def interaction_logged(delivery: Delivery[contacts.InteractionLogged]) -> None:
        payload = delivery.payload
        await activity.interaction_logged(
            scope_of(delivery), payload.deal_id, payload.contact_ids, payload.occurred_at
        )

    async def contact_merged(delivery: Delivery[contacts.ContactMerged]) -> None:
        payload = delivery.payload
        await activity.contact_merged(scope_of(delivery), payload.merged_id, payload.survivor_id)

    async def contact_deleted(delivery: Delivery[contacts.ContactDeleted]) -> None:
        await activity.contact_deleted(scope_of(delivery), delivery.payload.id)

    async def company_deleted(delivery: Delivery[contacts.CompanyDeleted]) -> None:
        await activity.company_deleted(scope_of(delivery), delivery.payload.id)

    async def company_changed(delivery: Delivery[Any]) -> None:
        company = delivery.payload.company
        version = company.updated_at or delivery.event.time
        await company_facts.company_seen(
            scope_of(delivery), company.id, company.industry, company.size, version
        )

    async def companies_changed(deliveries: list[Delivery[Any]]) -> None:
        """A fetch's events at once: those only showing companies (an import's burst of
        `company.created`) in one write per workspace; a fetch with a deletion in it one
        event at a time, in order."""
        if any(isinstance(d.payload, contacts.CompanyDeleted) for d in deliveries):
            for delivery in deliveries:
                await facts.handle(delivery.event)
            return
        by_workspace: dict[str, list[company_facts.Seen]] = {}
        for delivery in deliveries:
            company = delivery.payload.company
            by_workspace.setdefault(delivery.workspace, []).append(
                company_facts.Seen(
                    company.id,
                    company.industry,
                    company.size,
                    company.updated_at or delivery.event.time,
                )
            )
        for workspace, seen in by_workspace.items():
            await company_facts.companies_seen(scopes(service_caller(workspace)), seen)

    async def company_gone(delivery: Delivery[contacts.CompanyDeleted]) -> None:
        await company_facts.company_gone(
            scope_of(delivery), delivery.payload.id, delivery.event.time
        )

    completed = Subscription(TASKS).on(tasks.TaskCompleted, task_completed)
    sync = Subscription(CONTACTS)
    sync.on(contacts.InteractionLogged, interaction_logged)
    sync.on(contacts.ContactMerged, contact_merged)
    sync.on(contacts.ContactDeleted, contact_deleted)
    sync.on(contacts.CompanyDeleted, company_deleted)
    # The companies' attributes the win model reads (industry, size).
    facts = Subscription(
        COMPANY_FACTS, record_processed=False, batch=companies_changed, fetch=FACTS_FETCH
    )
    facts.on(contacts.CompanyCreated, company_changed)
    facts.on(contacts.CompanyUpdated, company_changed)
    facts.on(contacts.CompanyRestored, company_changed)
    facts.on(contacts.CompanyDeleted, company_gone)
    return [completed, sync, facts]

"""Handlers for other services' events (and our own, for rules on task events).

Each durable consumer is shared by every replica, so JetStream hands an event to one
replica; the kit skips event ids it has recorded, and every handler is idempotent on a
natural key as well (playbook and rule task keys, conditional status updates, the rule-run
record), so a redelivery after a crash changes nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from crm_contracts import contacts, deals
from crm_contracts import tasks as task_events
from crm_contracts.envelope import CloudEvent
from crm_contracts.streams import stream_for
from crm_kit.consumer import Handler, PermanentFailure
from crm_kit.runtime import ServiceRuntime

from ..domain.model import utcnow
from ..store.protocol import TasksStore
from ..usecases.automation import run_rules
from ..usecases.base import Notify, Scope
from ..usecases.handover import follow_owner_change
from ..usecases.playbooks import apply_playbook, close_deal, reopen_deal, repoint_contact

ACTOR = "service:tasks"


@dataclass(frozen=True)
class Subscription:
    durable: str
    service: str
    subjects: tuple[str, ...]
    handler: str
    # Pullers per process on the shared durable. The kit handles one message at a time per
    # puller; several pullers are several in-process "replicas" of the same consumer.
    workers: int = 1
    # False where the handler is idempotent on natural keys alone (see the kit's consumer):
    # playbook tasks have ids derived from the stage change, rule runs a unique
    # (rule, event) record. Deal lifecycle and merges keep the record: a redelivered
    # "won" after a "reopened" must not close the deal's tasks again.
    record_processed: bool = True


SUBSCRIPTIONS = (
    Subscription(
        "tasks-playbooks",
        "deals",
        (deals.DEAL_STAGE_CHANGED,),
        "on_stage_changed",
        workers=4,
        record_processed=False,
    ),
    Subscription(
        "tasks-deal-closing",
        "deals",
        (deals.DEAL_WON, deals.DEAL_LOST, deals.DEAL_REOPENED),
        "on_deal_lifecycle",
    ),
    Subscription(
        "tasks-rules-deals",
        "deals",
        (deals.DEAL_CREATED, deals.DEAL_STAGE_CHANGED, deals.DEAL_WON, deals.DEAL_LOST),
        "on_rule_trigger",
        record_processed=False,
    ),
    # A deal's owner changed (a handover or an edit): its tasks follow. Not idempotent on a
    # natural key across reorderings (A->B, then B->A, then a redelivered A->B): the
    # processed-event record stays on.
    Subscription("tasks-deal-owners", "deals", (deals.DEAL_UPDATED,), "on_deal_updated"),
    Subscription("tasks-contact-merges", "contacts", (contacts.CONTACT_MERGED,), "on_merged"),
    Subscription(
        "tasks-rules-contacts",
        "contacts",
        (contacts.CONTACT_CREATED, contacts.INTERACTION_LOGGED),
        "on_rule_trigger",
        record_processed=False,
    ),
    Subscription(
        "tasks-rules-tasks",
        "tasks",
        (task_events.TASK_COMPLETED, task_events.TASK_OVERDUE),
        "on_rule_trigger",
        record_processed=False,
    ),
)


class EventHandlers:
    def __init__(
        self,
        store: TasksStore,
        notify_outbox: Notify,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._notify = notify_outbox
        self._clock = clock

    def scope(self, event: CloudEvent) -> Scope:
        if not event.workspace:
            raise PermanentFailure("event has no workspace")
        return Scope(self._store.for_workspace(event.workspace), ACTOR, self._notify, self._clock)

    async def on_stage_changed(self, event: CloudEvent) -> None:
        try:
            change = deals.DealStageChanged.model_validate(event.data)
        except ValidationError as error:
            raise PermanentFailure(f"invalid stage_changed payload: {error}") from None
        await apply_playbook(self.scope(event), change)

    async def on_deal_lifecycle(self, event: CloudEvent) -> None:
        try:
            if event.type == deals.DEAL_REOPENED:
                reopened = deals.DealReopened.model_validate(event.data)
                await reopen_deal(self.scope(event), reopened.deal.id)
                return
            closed = deals.DealClosed.model_validate(event.data)
        except ValidationError as error:
            raise PermanentFailure(f"invalid {event.type} payload: {error}") from None
        outcome = "won" if event.type == deals.DEAL_WON else "lost"
        await close_deal(self.scope(event), closed, outcome)

    async def on_deal_updated(self, event: CloudEvent) -> None:
        try:
            updated = deals.DealUpdated.model_validate(event.data)
        except ValidationError as error:
            raise PermanentFailure(f"invalid deal.updated payload: {error}") from None
        previous, new = updated.previous_owner_id, updated.deal.owner_id
        if "ownerId" in updated.changed_fields and previous and new:
            await follow_owner_change(self.scope(event), updated.deal.id, previous, new)

    async def on_merged(self, event: CloudEvent) -> None:
        try:
            merged = contacts.ContactMerged.model_validate(event.data)
        except ValidationError as error:
            raise PermanentFailure(f"invalid contact.merged payload: {error}") from None
        await repoint_contact(self.scope(event), merged.merged_id, merged.survivor_id)

    async def on_rule_trigger(self, event: CloudEvent) -> None:
        await run_rules(self.scope(event), event)

    def handler(self, name: str) -> Handler:
        handler: Handler = getattr(self, name)
        return handler


async def start_consumers(
    runtime: ServiceRuntime, handlers: EventHandlers, workers: int | None = None
) -> None:
    """Bind every durable; `workers` overrides the per-subscription puller count."""
    for sub in SUBSCRIPTIONS:
        for _ in range(max(1, workers if workers is not None else sub.workers)):
            await runtime.consume(
                durable=sub.durable,
                source=stream_for(sub.service),
                subjects=sub.subjects,
                handler=handlers.handler(sub.handler),
                record_processed=sub.record_processed,
            )

"""Events this service reacts to, registered by payload model (`crm_kit.inbound`):
contract model -> handler, one `Subscription` per durable consumer (each declared in
`crm_contracts.access`).

Each durable consumer is shared by every replica, so JetStream hands an event to one
replica. Every handler is idempotent on a natural key (playbook and rule task keys,
conditional status updates, the rule-run record), so a redelivery after a crash changes
nothing twice; the kit's processed-event record is kept where natural keys are not
enough.
"""

from __future__ import annotations

import asyncio
from itertools import groupby
from typing import Any

from crm_contracts import contacts, deals
from crm_contracts.catalogue import CATALOGUE
from crm_contracts.envelope import service_of
from crm_kit.inbound import Delivery, Subscription

from ..domain.rule import Rule
from ..usecases.automation import TRIGGERS, Trigger, enabled_rules, run_rules
from ..usecases.handover import follow_owner_change
from ..usecases.playbooks import (
    apply_playbook,
    apply_playbooks,
    close_deal,
    reopen_deal,
    repoint_contact,
)
from ..usecases.scope import Scope, Scopes, service_caller

# Pullers per process on the playbooks' durable: the kit handles one fetch at a time per
# puller, so several are several in-process "replicas" of the consumer.
PLAYBOOK_WORKERS = 4
# Stage changes a playbook puller takes at once: what is waiting when it pulls (at least
# one), up to this many, stored together (`apply_playbooks`: one insert of their tasks
# and one of their schedule entries, whatever their number). Small enough that a backlog
# (after a restart) is still shared among the pullers.
PLAYBOOK_GATHER = 8
# Seconds the puller whose turn it is keeps gathering stage changes after its first one,
# while they come faster than this (`crm_kit.gathering`): at a steady 50 changes/s (one
# each 20 ms) a batch then holds ~3 instead of 1, so a change pays a third of the batch's
# statements, for at most 40 ms more; slower than 25/s, nothing is gathered nor waited.
PLAYBOOK_GATHER_WINDOW = 0.04
# Events a rules durable takes per fetch (at most; a fetch takes what is waiting): a burst
# behind (an import's `deal.created`, one per record) costs a read of the rules per this
# many events instead of per 32, in fewer pulls.
RULES_FETCH = 256


def subscriptions(scopes: Scopes) -> list[Subscription]:
    def scope_of(delivery: Delivery[Any]) -> Scope:
        return scopes(service_caller(delivery.workspace))

    async def stage_changed(delivery: Delivery[deals.DealStageChanged]) -> None:
        await apply_playbook(scope_of(delivery), delivery.payload)

    async def won(delivery: Delivery[deals.DealClosed]) -> None:
        await close_deal(scope_of(delivery), delivery.payload, "won")

    async def lost(delivery: Delivery[deals.DealClosed]) -> None:
        await close_deal(scope_of(delivery), delivery.payload, "lost")

    async def reopened(delivery: Delivery[deals.DealReopened]) -> None:
        await reopen_deal(scope_of(delivery), delivery.payload, delivery.event.time)

    async def owner_changed(delivery: Delivery[deals.DealUpdated]) -> None:
        updated = delivery.payload
        previous, new = updated.previous_owner_id, updated.deal.owner_id
        if "ownerId" in updated.changed_fields and previous and new:
            await follow_owner_change(scope_of(delivery), updated.deal.id, previous, new)

    async def merged(delivery: Delivery[contacts.ContactMerged]) -> None:
        payload = delivery.payload
        await repoint_contact(scope_of(delivery), payload.merged_id, payload.survivor_id)

    async def stage_changes(deliveries: list[Delivery[deals.DealStageChanged]]) -> None:
        by_workspace: dict[str, list[deals.DealStageChanged]] = {}
        for delivery in deliveries:  # in the order fetched: a deal's changes stay in order
            by_workspace.setdefault(delivery.workspace, []).append(delivery.payload)
        # Workspaces are independent: side by side, each failure raised once all ended (the
        # kit then handles each event alone, with its own retries).
        ended = await asyncio.gather(
            *(
                apply_playbooks(scopes(service_caller(workspace)), changes)
                for workspace, changes in by_workspace.items()
            ),
            return_exceptions=True,
        )
        for outcome in ended:
            if isinstance(outcome, BaseException):
                raise outcome

    # Playbook tasks have ids derived from the stage change: idempotent on that alone.
    playbooks = Subscription(
        "tasks-playbooks",
        record_processed=False,
        workers=PLAYBOOK_WORKERS,
        batch=stage_changes,
        gather=PLAYBOOK_GATHER,
        gather_window=PLAYBOOK_GATHER_WINDOW,
    ).on(deals.DealStageChanged, stage_changed)
    # Deal lifecycle: the close and the reopen are kept by their place in the deal's stage
    # history (`usecases.playbooks`), so a "won" delivered after a "reopened" changes
    # nothing; the processed-event record saves the work of a plain redelivery.
    closing = (
        Subscription("tasks-deal-closing")
        .on(deals.DealClosed, won, subjects=[deals.DEAL_WON])
        .on(deals.DealClosed, lost, subjects=[deals.DEAL_LOST])
        .on(deals.DealReopened, reopened)
    )
    # A deal's owner changed (a handover or an edit): its tasks follow. Not idempotent on
    # a natural key across reorderings (A->B, B->A, then a redelivered A->B).
    owners = Subscription("tasks-deal-owners").on(deals.DealUpdated, owner_changed)
    merges = Subscription("tasks-contact-merges").on(contacts.ContactMerged, merged)
    return [playbooks, closing, owners, merges, *rule_subscriptions(scopes)]


def rule_subscriptions(scopes: Scopes) -> list[Subscription]:
    """The automation rules' triggers (`usecases.automation.TRIGGERS`): one durable per
    owning service, `tasks-rules-<service>`. Runs are idempotent on their (rule, event)
    record, so no processed-event record is kept.

    The events of one fetch are handled together, one after another in the order fetched,
    with each workspace's enabled rules of a trigger read once for all of them: a burst
    (every stage change and overdue notice of a busy pipeline reaches these durables)
    costs a read of the rules per fetch, not per event (on the embedded database each
    read is a scan of every workspace's rules). If that fails, the kit handles each event
    alone, with its retries and dead letters; the runs already recorded are not run
    again."""

    def runner(trigger: Trigger) -> Any:
        async def run(delivery: Delivery[Any]) -> None:
            await run_rules(
                scopes(service_caller(delivery.workspace)), trigger.name, delivery.event
            )

        return run

    by_subject = {trigger.subject: trigger for trigger in TRIGGERS}

    async def run_together(deliveries: list[Delivery[Any]]) -> None:
        held: dict[tuple[str, str], list[Rule]] = {}
        # One scope per workspace of the fetch: making one builds the workspace's stores,
        # ~6 % of this service's CPU (cProfile) when it was made per event of an import.
        scoped: dict[str, Scope] = {}
        for delivery in deliveries:
            trigger = by_subject[delivery.event.type]
            scope = scoped.get(delivery.workspace)
            if scope is None:
                scope = scoped[delivery.workspace] = scopes(service_caller(delivery.workspace))
            key = (delivery.workspace, trigger.name)
            if key not in held:
                held[key] = await enabled_rules(scope, trigger.name)
            await run_rules(scope, trigger.name, delivery.event, held[key])

    def owner(trigger: Trigger) -> str:
        return service_of(trigger.subject)

    found: list[Subscription] = []
    for service, triggers in groupby(sorted(TRIGGERS, key=owner), key=owner):
        subscription = Subscription(
            f"tasks-rules-{service}",
            record_processed=False,
            batch=run_together,
            fetch=RULES_FETCH,
        )
        for trigger in triggers:
            model = CATALOGUE.get(trigger.subject)
            if model is None:
                raise ValueError(f"rule trigger {trigger.name}: {trigger.subject} is uncatalogued")
            subscription.on(model, runner(trigger), subjects=[trigger.subject])
        found.append(subscription)
    return found

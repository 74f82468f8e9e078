"""Live fields: the service's own events as they happen (`crm_kit.live`: one JetStream
consumer per process, never a poll of the database). A subscriber sees only its
workspace's events, and only what the same query would show it."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from crm_contracts.contacts import INTERACTION_LOGGED, InteractionLogged
from crm_kit.live import LiveEvent, current_session, live_events
from crm_kit.sharing import Visibility

from ..usecases import lookups
from .types import ContextInfo, Interaction


async def _sees(event: LiveEvent, logged: InteractionLogged, seen: Visibility) -> bool:
    """Whether the subscriber sees a contact or the company the interaction is on (their
    owners read once per event, for every subscriber)."""
    session = current_session()

    async def owners() -> list[str | None]:
        ctx = await session.fresh_context()
        store = ctx.scope.store  # unnarrowed: owners only, judged per subscriber below
        found: list[str | None] = [c.owner_id for c in await store.get_contacts(logged.contact_ids)]
        if logged.company_id:
            found += [c.owner_id for c in await store.get_companies([logged.company_id])]
        return found

    held = await event.shared(("interaction-owners", logged.id), owners)
    return not held or any(seen.sees((owner,)) for owner in held)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Each interaction logged from now on, optionally only those on one "
        "contact's or one company's timeline."
    )
    async def interaction_logged(
        self,
        info: ContextInfo,
        contact_id: strawberry.ID | None = None,
        company_id: strawberry.ID | None = None,
    ) -> AsyncGenerator[Interaction, None]:
        scope = info.context.scope
        # What the subscriber sees, as it stood when the subscription started.
        seen = (await scope.access()).of("contact")
        async for event in live_events([INTERACTION_LOGGED]):
            logged: InteractionLogged = event.payload(InteractionLogged)
            if contact_id is not None and str(contact_id) not in logged.contact_ids:
                continue
            if company_id is not None and logged.company_id != str(company_id):
                continue
            if not seen.everything and not await _sees(event, logged, seen):
                continue
            # The stored record (the event leaves out participants), read once per event.
            found = await event.shared(
                ("interaction", logged.id),
                lambda: lookups.interactions_by_ids(scope, [logged.id]),  # noqa: B023
            )
            interaction = found.get(logged.id)
            if interaction is not None:
                yield Interaction.of(interaction)

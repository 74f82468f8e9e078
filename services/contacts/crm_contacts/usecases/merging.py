"""Merging a duplicate contact into a survivor, and finishing merges a crash interrupted.

A merge records itself first (`MergeRecord`), then moves the duplicate's interactions,
lets the survivor absorb the duplicate and marks the duplicate merged, and finally marks
the record done. Every step is safe to repeat, so a merge interrupted anywhere is
finished by running it again (`resume_merges` at start-up, or the client repeating the
mutation). Both contacts are held for the whole merge (`change_contacts`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from crm_kit.access import require_change_visible
from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, Conflict, NotFound

from ..domain import rules
from ..domain.contact import Contact, wire_field
from ..domain.merge import FieldChange, MergeRecord, absorb, plan_merge
from ..store.port import ChangedMeanwhile, ContactsStore
from .lookups import contact, seen_id
from .scope import Scope

log = logging.getLogger(__name__)
# Interaction ids a merge result lists (of those that move).
LISTED_INTERACTIONS = 100


@dataclass
class MergeOutcome:
    survivor: Contact
    duplicate_id: str
    dry_run: bool
    changes: list[FieldChange]
    moved_interactions: int
    interaction_ids: list[str] = field(default_factory=list)
    already_merged: bool = False


async def _merged_elsewhere(scope: Scope, duplicate: Contact, into: str, how: str) -> Conflict:
    """CONFLICT naming the other survivor only when the caller sees it."""
    seen = await seen_id(scope, "contact", into)
    return Conflict(
        f"contact {duplicate.id} {how} {seen or 'another contact'}",
        field="duplicateId",
        **({"existingId": seen} if seen else {}),
    )


async def _already_merged(
    scope: Scope,
    survivor: Contact,
    duplicate: Contact,
    record: MergeRecord | None,
    dry_run: bool,
) -> MergeOutcome | None:
    """Refuse what cannot be merged; the outcome of a merge that is done already."""
    if record is not None and record.survivor_id != survivor.id:
        raise await _merged_elsewhere(scope, duplicate, record.survivor_id, "is being merged into")
    if duplicate.merged_into == survivor.id and record and record.status == "done":
        changes = [FieldChange(name, None, None) for name in record.changed_fields]
        return MergeOutcome(
            survivor, duplicate.id, dry_run, changes, record.moved_interactions, already_merged=True
        )
    if survivor.deleted:
        raise BadUserInput("the survivor is deleted; restore it first", field="survivorId")
    if duplicate.merged_into and duplicate.merged_into != survivor.id:
        raise await _merged_elsewhere(scope, duplicate, duplicate.merged_into, "was merged into")
    if duplicate.deleted and record is None:
        raise BadUserInput("the duplicate is deleted; restore it first", field="duplicateId")
    return None


async def _plan(
    scope: Scope, survivor: Contact, duplicate: Contact, record: MergeRecord | None, dry_run: bool
) -> MergeOutcome:
    done = await _already_merged(scope, survivor, duplicate, record, dry_run)
    if done is not None:
        return done
    plan = plan_merge(survivor, duplicate)
    moved = await scope.store.count_interactions_of(duplicate.id)
    moving = await scope.store.interaction_ids_of(duplicate.id, LISTED_INTERACTIONS)
    return MergeOutcome(survivor, duplicate.id, dry_run, plan.changes, moved, moving)


async def _steps(
    scope: Scope, survivor: Contact, duplicate: Contact, record: MergeRecord
) -> list[Contact]:
    """The merge's changes (each safe to repeat); returns the contacts to write, the
    survivor first (the duplicate's event names the survivor as merged)."""
    await scope.store.move_interactions(duplicate.id, survivor.id)
    to_write = []
    if absorb(survivor, duplicate, at=scope.now(), by=scope.subject):
        to_write.append(survivor)
    if duplicate.merge_into(survivor, record.moved_interactions, at=scope.now(), by=scope.subject):
        to_write.append(duplicate)
    return to_write


def _pair(
    found: dict[str, Contact], survivor_id: str, duplicate_id: str
) -> tuple[Contact, Contact]:
    if survivor_id not in found:
        raise NotFound(f"no contact {survivor_id}", field="survivorId")
    if duplicate_id not in found:
        raise NotFound(f"no contact {duplicate_id}", field="duplicateId")
    return found[survivor_id], found[duplicate_id]


async def merge_contacts(
    scope: Scope, survivor_id: str, duplicate_id: str, dry_run: bool = False
) -> MergeOutcome:
    if not dry_run:
        scope.require_write()
    rules.require_id(survivor_id, "survivorId")
    rules.require_id(duplicate_id, "duplicateId")
    if survivor_id == duplicate_id:
        raise BadUserInput("a contact cannot be merged into itself", field="duplicateId")
    if dry_run:  # changes nothing, so holds nothing
        survivor = await contact(scope, survivor_id, "survivorId")
        duplicate = await contact(scope, duplicate_id, "duplicateId")
        return await _plan(
            scope, survivor, duplicate, await scope.store.get_merge(duplicate_id), True
        )
    outcomes: list[MergeOutcome] = []
    seen = (await scope.access()).of("contact")

    async def merge(found: dict[str, Contact]) -> Sequence[Contact]:
        survivor, duplicate = _pair(found, survivor_id, duplicate_id)
        # A merge changes both contacts (and deletes the duplicate): both must be the
        # caller's; one the caller cannot see is NOT_FOUND, as one that does not exist.
        for held, where in ((survivor, "survivorId"), (duplicate, "duplicateId")):
            require_change_visible(
                scope.caller,
                seen,
                [held.owner_id],
                kind="contact",
                not_found=NotFound(f"no contact {held.id}", field=where),
                field=where,
            )
        record = await scope.store.get_merge(duplicate_id)
        outcome = await _plan(scope, survivor, duplicate, record, False)
        outcomes[:] = [outcome]
        if outcome.already_merged:
            return []
        if record is None:
            record = MergeRecord(
                duplicate_id=duplicate_id,
                workspace_id=scope.workspace_id,
                survivor_id=survivor_id,
                moved_interactions=outcome.moved_interactions,
                changed_fields=[wire_field(change.field) for change in outcome.changes],
            )
            if not await scope.store.add_merge(record):
                raise Conflict("a merge of this contact is under way; retry", field="duplicateId")
        outcome.moved_interactions = record.moved_interactions
        return await _steps(scope, survivor, duplicate, record)

    try:
        await scope.store.change_contacts([survivor_id, duplicate_id], merge)
    except ChangedMeanwhile:
        raise Conflict("the contacts changed meanwhile; retry the merge") from None
    outcome = outcomes[0]
    if not outcome.already_merged:
        await scope.store.finish_merge(duplicate_id)
    return outcome


async def resume_merge(scope: Scope, record: MergeRecord) -> None:
    async def resume(found: dict[str, Contact]) -> Sequence[Contact]:
        survivor, duplicate = _pair(found, record.survivor_id, record.duplicate_id)
        return await _steps(scope, survivor, duplicate, record)

    await scope.store.change_contacts([record.survivor_id, record.duplicate_id], resume)
    await scope.store.finish_merge(record.duplicate_id)


async def resume_merges(store: ContactsStore) -> int:
    """Finish the merges a crash interrupted, in every workspace; returns how many."""
    resumed = 0
    for record in await store.pending_merges():
        caller = RequestContext(record.workspace_id, "service:contacts", frozenset({"admin"}))
        try:
            await resume_merge(Scope(store.for_workspace(record.workspace_id), caller), record)
            resumed += 1
        except Exception:
            log.exception("could not resume merge of %s", record.duplicate_id)
    return resumed

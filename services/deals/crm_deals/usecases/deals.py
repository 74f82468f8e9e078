"""Deal use cases: create, update, delete, and every stage change (move, won, lost, reopen).

Each change is one read-modify-write of the deal through the store (`change_deal`): the
new state, the appended history entry and the events together, conditional on the
revision read, so two concurrent changes never both apply to the same state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

from crm_kit import bounds
from crm_kit.access import require_change_visible, require_system_fields
from crm_kit.audit import annotate
from crm_kit.errors import (
    BadUserInput,
    Conflict,
    CRMError,
    Forbidden,
    NotFound,
    PreconditionFailed,
)
from crm_kit.ids import new_id
from crm_kit.unset import Unset

from ..domain import rules
from ..domain.deal import (
    OPEN,
    Deal,
    StageChange,
    criteria_names,
    stages_skipped,
    unmet_before,
    unmet_passing,
)
from ..domain.pipeline import LOST, WON, Pipeline, Stage
from ..store.port import ChangedMeanwhile
from .estimates import estimate
from .inputs import DealChanges, DealInput
from .pipelines import get_pipeline
from .scope import Scope
from .visibility import visible_deals

MAX_REASON = 500
CHANGED_MEANWHILE = "the deal changed meanwhile; reload it and retry"

# --- reads -------------------------------------------------------------------------------


async def find_deal(scope: Scope, deal_id: str) -> Deal | None:
    """None for a deal the caller may not see (record sharing), as for none."""
    found = await visible_deals(scope, await scope.store.get_deals([deal_id]))
    return found[0] if found else None


async def get_deal(scope: Scope, deal_id: str, field: str = "id") -> Deal:
    found = await find_deal(scope, deal_id)
    if found is None:
        raise _no_deal(deal_id, field)
    return found


async def deals_by_ids(scope: Scope, deal_ids: Sequence[str]) -> dict[str, Deal]:
    found = await scope.store.get_deals(list(dict.fromkeys(deal_ids)))
    return {deal.id: deal for deal in await visible_deals(scope, found)}


# --- create / update / delete ------------------------------------------------------------


async def create_deal(scope: Scope, values: DealInput, *, override: bool = False) -> Deal:
    """A deal created at a later stage has passed every stage before it: their exit
    criteria must hold (PRECONDITION_FAILED naming each unmet one), unless an admin
    overrides them (recorded on the history entry and in the stage change event)."""
    scope.require_write()
    _check_override_allowed(scope, override)
    pipeline = await get_pipeline(scope, values.pipeline_id, field="input.pipelineId")
    if values.stage_key:
        stage = pipeline.stage(values.stage_key)
        if stage is None or stage.terminal:
            raise BadUserInput(
                f"{values.stage_key!r} is not an open stage of {pipeline.name!r}",
                field="input.stageKey",
            )
    else:
        stage = pipeline.first_stage
    deal = _new_deal(scope, values, pipeline, stage)
    await check_references(scope, _references(deal), values.contact_ids)
    overridden = _criteria_gate(
        unmet_before(deal, pipeline, stage), override, f"creating the deal at {stage.name!r}"
    )
    deal.opened(
        stage,
        StageChange(
            id=new_id(),
            from_stage=None,
            to_stage=stage.key,
            at=deal.created_at or scope.now(),
            by=scope.subject,
            seconds_in_from_stage=None,
            pipeline_id=pipeline.id,
            pipeline_version=pipeline.version,
            kind="create",
            overridden=overridden,
        ),
    )
    # The model reads the deal's history: estimated once the deal has entered its stage
    # (the events, encoded at the write, carry the estimate).
    model = await estimate(scope, deal, pipeline)
    if model is not None:
        deal.probability_model = model
    await scope.store.add_deal(deal)
    return deal


def _new_deal(scope: Scope, values: DealInput, pipeline: Pipeline, stage: Stage) -> Deal:
    """A valid open deal from the input (no history yet, nothing written)."""
    amount_minor, currency = rules.money(values.amount, values.currency or "USD")
    primary = rules.optional_text(
        values.primary_contact_id, "input.primaryContactId", bounds.MAX_ID
    )
    now = scope.now()
    deal_id = new_id()
    return Deal(
        id=deal_id,
        workspace_id=scope.workspace_id,
        title=rules.title(values.title),
        amount_minor=amount_minor,
        currency=currency,
        pipeline_id=pipeline.id,
        pipeline_version=pipeline.version,
        stage_key=stage.key,
        stage_probability=stage.probability,
        forecast_category=stage.forecast_category,
        owner_id=rules.optional_text(values.owner_id, "input.ownerId", bounds.MAX_ID)
        or scope.subject,
        company_id=rules.optional_text(values.company_id, "input.companyId", bounds.MAX_ID),
        primary_contact_id=primary,
        contact_ids=rules.contact_ids(primary, values.contact_ids),
        probability_override=rules.probability(
            values.probability_override, "input.probabilityOverride"
        ),
        expected_close_date=rules.iso_date(values.expected_close_date, "input.expectedCloseDate"),
        next_step=rules.optional_text(values.next_step, "input.nextStep"),
        next_step_date=rules.iso_date(values.next_step_date, "input.nextStepDate"),
        source=rules.optional_text(values.source, "input.source"),
        product=rules.optional_text(values.product, "input.product"),
        custom_fields=rules.custom_fields(values.custom_fields),
        stage_entered_at=now,
        external_id=f"crm:{deal_id}",
        created_at=now,
        created_by=scope.subject,
        updated_at=now,
        updated_by=scope.subject,
    )


# Optional text inputs: attribute -> the client's field name.
_TEXT = {
    "company_id": "companyId",
    "primary_contact_id": "primaryContactId",
    "owner_id": "ownerId",
    "next_step": "nextStep",
    "source": "source",
    "product": "product",
}
_IDS = {"company_id", "primary_contact_id", "owner_id"}


class DealReferences(NamedTuple):
    company_id: str | None
    primary_contact_id: str | None
    contact_ids: list[str]


_REFERENCE_FIELDS = frozenset(DealReferences._fields)


def _references(deal: Deal) -> DealReferences:
    return DealReferences(deal.company_id, deal.primary_contact_id, list(deal.contact_ids))


async def check_references(
    scope: Scope,
    deal: DealReferences,
    given_contact_ids: Any,
    before: DealReferences | None = None,
) -> None:
    """The company and contacts a user names (those `before` did not reference already)
    must be live records of the workspace: BAD_USER_INPUT naming the first that is not
    (`input.companyId`, `input.primaryContactId` or `input.contactIds.<n>`). Asked of the
    contacts service (SERVICE_UNAVAILABLE, retryable, when it does not answer). Users only:
    the service acting on its own writes ids that events or the contacts service gave."""
    if scope.references is None or scope.caller.subject.startswith("service:"):
        return  # the service itself (a consumer, a job) writes what events told it
    known: set[str | None] = (
        {*before.contact_ids, before.primary_contact_id} if before is not None else set()
    )
    contacts = [i for i in deal.contact_ids if i not in known]
    company = (
        deal.company_id
        if deal.company_id and (before is None or deal.company_id != before.company_id)
        else None
    )
    if not contacts and company is None:
        return
    missing = await scope.references.missing(scope.caller, contacts, [company] if company else [])
    if missing.company_ids:
        raise BadUserInput(f"no company {company!r} in this workspace", field="input.companyId")
    if missing.contact_ids:
        absent = missing.contact_ids[0]
        field = "input.primaryContactId"
        if absent != deal.primary_contact_id and isinstance(given_contact_ids, list):
            field = f"input.contactIds.{given_contact_ids.index(absent)}"
        raise BadUserInput(f"no contact {absent!r} in this workspace", field=field)


def _changed_values(changes: DealChanges, deal: Deal) -> dict[str, Any]:
    """The given fields, validated (attribute -> value)."""
    values: dict[str, Any] = {}
    if not isinstance(changes.title, Unset):
        values["title"] = rules.title(changes.title)
    if not isinstance(changes.amount, Unset) or not isinstance(changes.currency, Unset):
        amount = None if isinstance(changes.amount, Unset) else changes.amount
        currency = None if isinstance(changes.currency, Unset) else changes.currency
        if amount is None:
            raise BadUserInput("amount is required with a currency change", field="input.amount")
        values["amount_minor"], values["currency"] = rules.money(amount, currency or deal.currency)
    for attribute, name in _TEXT.items():
        given = getattr(changes, attribute)
        if not isinstance(given, Unset):
            limit = bounds.MAX_ID if attribute in _IDS else bounds.MAX_SHORT
            values[attribute] = rules.optional_text(given, f"input.{name}", limit)
    for attribute, name in (
        ("expected_close_date", "expectedCloseDate"),
        ("next_step_date", "nextStepDate"),
    ):
        given = getattr(changes, attribute)
        if not isinstance(given, Unset):
            values[attribute] = rules.iso_date(given, f"input.{name}")
    if not isinstance(changes.probability_override, Unset):
        values["probability_override"] = rules.probability(
            changes.probability_override, "input.probabilityOverride"
        )
    if not isinstance(changes.model_probability, Unset):
        values["probability_model"] = rules.probability(
            changes.model_probability, "input.modelProbability"
        )
    if not isinstance(changes.contact_ids, Unset) or not isinstance(
        changes.primary_contact_id, Unset
    ):
        primary = values.get("primary_contact_id", deal.primary_contact_id)
        others = deal.contact_ids if isinstance(changes.contact_ids, Unset) else changes.contact_ids
        values["contact_ids"] = rules.contact_ids(primary, others)
    if not isinstance(changes.custom_fields, Unset):
        values["custom_fields"] = rules.custom_fields(changes.custom_fields)
    return values


async def update_deal(
    scope: Scope,
    deal_id: str,
    changes: DealChanges,
    *,
    expect: dict[str, Any] | None = None,
    handover_id: str | None = None,
    note: str | None = None,
) -> Deal:
    """Only the given fields change. `expect` (attribute -> value) must hold on the deal as
    read, else PRECONDITION_FAILED; the write is conditional on the revision read, so it
    holds at the write too. An owner change is kept in `owner_changes` (with the
    `handover_id` and `note` of a handover)."""
    scope.require_write()
    require_system_fields(
        scope.caller, {"input.modelProbability": not isinstance(changes.model_probability, Unset)}
    )

    async def change(deal: Deal) -> bool:
        unmet = [key for key, value in (expect or {}).items() if getattr(deal, key) != value]
        if unmet:
            raise PreconditionFailed(
                "the deal is no longer as expected",
                unmet=[{"criterion": key, "detail": "changed meanwhile"} for key in unmet],
            )
        values = _changed_values(changes, deal)
        if all(getattr(deal, key) == value for key, value in values.items()):
            return False
        revised = _references(deal)._replace(
            **{k: v for k, v in values.items() if k in _REFERENCE_FIELDS}
        )
        await check_references(scope, revised, changes.contact_ids, _references(deal))
        pipeline = await get_pipeline(scope, deal.pipeline_id)
        stage = pipeline.stage_at(deal.pipeline_version, deal.stage_key)
        changed = deal.revise(
            values, stage, at=scope.now(), by=scope.subject, handover_id=handover_id, note=note
        )
        return bool(changed)

    return await _change(scope, deal_id, change, CHANGED_MEANWHILE)


async def delete_deal(scope: Scope, deal_id: str) -> Deal:
    scope.require_write()

    async def change(deal: Deal) -> bool:
        deal.delete(scope.now())
        return True

    return await _change(scope, deal_id, change, CHANGED_MEANWHILE)


# --- stage changes -----------------------------------------------------------------------


class ExpectedStage(NamedTuple):
    """Where a mover saw the deal: its stage and, when known, how many stage changes it
    had had (`len(stage_history)`, the events' `stageSequence`)."""

    stage_key: str
    sequence: int | None = None

    def holds(self, deal: Deal) -> bool:
        if deal.stage_key != self.stage_key:
            return False
        return self.sequence is None or len(deal.stage_history) == self.sequence


class StageChanged(CRMError):
    """The deal is no longer where the mover saw it: it moved on meanwhile. Final: asking
    again cannot change it (a move re-asked after a crash must not take a deal back)."""

    code = "STAGE_CHANGED"


async def move_deal(
    scope: Scope,
    deal_id: str,
    stage_key: str,
    *,
    override: bool = False,
    expected: ExpectedStage | None = None,
) -> Deal:
    """Moving forward needs the exit criteria of the stage left and of every stage skipped
    on the way (or an admin's override, recorded); moving back needs none. With `expected`,
    a deal no longer there is refused (`StageChanged`); one already in the target stage is
    answered as it is."""
    scope.require_write()
    _check_override_allowed(scope, override)
    if stage_key == WON:
        return await close_won(scope, deal_id, expected=expected)

    async def change(deal: Deal) -> bool:
        if _arrived(deal, stage_key, expected):
            return False
        if stage_key == LOST:
            raise BadUserInput(
                "closing as lost needs a reason: use closeDealLost", field="stageKey"
            )
        _require_open(deal)
        pipeline = await get_pipeline(scope, deal.pipeline_id)
        target = pipeline.stage(stage_key)
        if target is None:
            raise BadUserInput(
                f"{stage_key!r} is not a stage of {pipeline.name!r} v{pipeline.version}",
                field="stageKey",
            )
        if target.key == deal.stage_key and deal.pipeline_version == pipeline.version:
            return False
        leaving = pipeline.stage_at(deal.pipeline_version, deal.stage_key)
        unmet = []
        if _forward(pipeline, deal.stage_key, target.key):
            unmet = unmet_passing(deal, pipeline, leaving, target)
        overridden = _criteria_gate(unmet, override, _passing(deal, leaving, target, pipeline))
        await _enter(scope, deal, pipeline, target, kind="move", overridden=overridden)
        return True

    return await _change(scope, deal_id, change, _MOVED_MEANWHILE)


def _arrived(deal: Deal, stage_key: str, expected: ExpectedStage | None) -> bool:
    """With an expectation: whether the deal is in the target stage already (an earlier
    ask of the same move made it, or another mover did: nothing to do); raises
    `StageChanged` when it is neither there nor where the mover saw it."""
    if expected is None:
        return False
    if deal.stage_key == stage_key:
        return True
    if not expected.holds(deal):
        seen = f"{expected.stage_key!r}" + (
            f" after {expected.sequence} stage changes" if expected.sequence is not None else ""
        )
        raise StageChanged(
            f"deal {deal.id} is in {deal.stage_key!r} after {len(deal.stage_history)} stage "
            f"changes, not in {seen}: it moved on, so it is not moved",
            field="fromStageKey",
        )
    return False


async def close_won(scope: Scope, deal_id: str, *, expected: ExpectedStage | None = None) -> Deal:
    scope.require_write()

    async def change(deal: Deal) -> bool:
        if _arrived(deal, WON, expected):
            return False
        _require_open(deal)
        pipeline = await get_pipeline(scope, deal.pipeline_id)
        await _enter(scope, deal, pipeline, _terminal(pipeline, WON), kind=WON)
        return True

    return await _change(scope, deal_id, change, _MOVED_MEANWHILE)


async def close_lost(scope: Scope, deal_id: str, reason: str) -> Deal:
    scope.require_write()
    reason = (reason or "").strip()
    if not reason:
        raise BadUserInput("a reason is required to close a deal as lost", field="reason")
    if len(reason) > MAX_REASON:
        raise BadUserInput(f"reason is longer than {MAX_REASON} characters", field="reason")

    async def change(deal: Deal) -> bool:
        _require_open(deal)
        pipeline = await get_pipeline(scope, deal.pipeline_id)
        target = _terminal(pipeline, LOST)
        await _enter(scope, deal, pipeline, target, kind=LOST, lost_reason=reason)
        return True

    return await _change(scope, deal_id, change, _MOVED_MEANWHILE)


async def reopen_deal(
    scope: Scope, deal_id: str, stage_key: str | None, *, override: bool = False
) -> Deal:
    """Reopening into a later stage re-enters the pipeline there: the exit criteria of every
    stage before it must hold, as on a create (or an admin overrides them)."""
    scope.require_write()
    _check_override_allowed(scope, override)

    async def change(deal: Deal) -> bool:
        if deal.status == OPEN:
            raise PreconditionFailed(
                "the deal is open; only a won or lost deal can be reopened",
                unmet=[{"criterion": "status", "detail": "deal must be won or lost"}],
            )
        pipeline = await get_pipeline(scope, deal.pipeline_id)
        target = pipeline.stage(stage_key) if stage_key else pipeline.first_stage
        if target is None or target.terminal:
            raise BadUserInput(f"{stage_key!r} is not an open stage", field="stageKey")
        overridden = _criteria_gate(
            unmet_before(deal, pipeline, target),
            override,
            f"reopening the deal at {target.name!r}",
        )
        await _enter(scope, deal, pipeline, target, kind="reopen", overridden=overridden)
        return True

    return await _change(scope, deal_id, change, _MOVED_MEANWHILE)


_MOVED_MEANWHILE = "the deal changed while this stage change was made; reload it and retry"


async def _enter(
    scope: Scope,
    deal: Deal,
    pipeline: Pipeline,
    target: Stage,
    *,
    kind: str,
    lost_reason: str | None = None,
    overridden: list[str] | None = None,
) -> None:
    """Enter `target`. An open stage gets the trained model's estimate for it at once (a
    closed deal keeps the estimate it had: what was predicted before the outcome)."""
    deal.enter_stage(
        pipeline,
        target,
        change_id=new_id(),
        kind=kind,
        at=scope.now(),
        by=scope.subject,
        lost_reason=lost_reason,
        overridden=overridden,
    )
    if not target.terminal:
        model = await estimate(scope, deal, pipeline)
        if model is not None:
            deal.probability_model = model


async def _change(
    scope: Scope, deal_id: str, change: Callable[[Deal], Awaitable[bool]], meanwhile: str
) -> Deal:
    seen = (await scope.access()).of("deal")

    async def held(deal: Deal) -> bool:
        # On the deal as read for the write: the owner it has then decides (crm_kit.access);
        # a deal the caller cannot see is NOT_FOUND, as one that does not exist.
        require_change_visible(
            scope.caller, seen, [deal.owner_id], kind="deal", not_found=_no_deal(deal_id)
        )
        return await change(deal)

    try:
        found = await scope.store.change_deal(deal_id, held)
    except ChangedMeanwhile:
        raise Conflict(meanwhile, field="id") from None
    if found is None:
        raise _no_deal(deal_id)
    return found


def _no_deal(deal_id: str, field: str = "id") -> NotFound:
    return NotFound(f"no deal {deal_id!r}", field=field)


def _terminal(pipeline: Pipeline, key: str) -> Stage:
    stage = pipeline.stage(key)
    assert stage is not None, f"pipeline {pipeline.id} lacks terminal stage {key}"
    return stage


def _require_open(deal: Deal) -> None:
    if deal.status != OPEN:
        raise PreconditionFailed(
            f"the deal is {deal.status}; reopen it first",
            unmet=[{"criterion": "status", "detail": f"deal is {deal.status}, not open"}],
        )


def _forward(pipeline: Pipeline, from_key: str, to_key: str) -> bool:
    """Exit criteria guard progress; moving a deal back never needs them. A stage that no
    longer exists in the current version counts as 'before' every stage."""
    return pipeline.index(to_key) > pipeline.index(from_key)


def _passing(deal: Deal, leaving: Stage | None, target: Stage, pipeline: Pipeline) -> str:
    """What a forward move does, for its refusal: the stage left and any it skips."""
    left = f"leaving {leaving.name!r}" if leaving is not None else "moving"
    skipped = stages_skipped(pipeline, deal.stage_key, target)
    if skipped:
        return f"{left} and skipping {', '.join(repr(s.name) for s in skipped)}"
    return left


def _check_override_allowed(scope: Scope, override: bool) -> None:
    """Bypassing the process is an admin's explicit act, never a side effect of a role."""
    if override and not scope.caller.has_role("admin"):
        raise Forbidden("only an admin may override exit criteria", field="override")


def _criteria_gate(unmet: list[dict[str, str]], override: bool, doing: str) -> list[str]:
    """Refuse `doing` while criteria are unmet, naming each; with an (admin's) override,
    the criteria passed anyway, for the audit trail."""
    if not unmet:
        return []
    if override:
        passed = criteria_names(unmet)
        # The audit log shows the change as an override, naming what it passed over.
        annotate(override=passed)
        return passed
    names = ", ".join(criteria_names(unmet))
    raise PreconditionFailed(f"{doing} needs exit criteria that are not met: {names}", unmet=unmet)

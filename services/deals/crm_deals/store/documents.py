"""The Mongo adapter's mapping between domain records and documents (`to_doc`/`from_doc`),
and how each kind of record is stored (`crm_kit.records.RecordType`).

The documents are exactly what the service has always stored (existing data reads as
before). Derived fields (effective probability, weighted amount, close date and month,
`close_sort`, `stale_at`) are written here, at write time, because FerretDB v1 cannot
compute them in a query; the filters (`filters.py`), sort orders and the read index name
them. The small keyed records' `_id`s start with the workspace (`<workspace>:<key>`):
every single read and write of them is by `_id`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from crm_kit.records import RecordType

from ..config import (
    DEALS,
    HANDOVERS,
    PIPELINES,
)
from ..domain.deal import Activity, Deal, FieldChange, OwnerChange, StageChange
from ..domain.handover import Handover
from ..domain.pipeline import (
    AssigneeRule,
    ExitCriteria,
    Pipeline,
    PipelineVersion,
    Stage,
    TaskTemplate,
)
from ..domain.win_features import DealHistory

Doc = dict[str, Any]


def keyed(workspace_id: str, *parts: object) -> str:
    """The `_id` of a small keyed record: `<workspace>:<part>:<part>...`."""
    return ":".join([workspace_id, *(str(part) for part in parts)])


# --- deals -------------------------------------------------------------------------------


def stage_change_to_doc(change: StageChange) -> Doc:
    return {
        "id": change.id,
        "from_stage": change.from_stage,
        "to_stage": change.to_stage,
        "at": change.at,
        "by": change.by,
        "seconds_in_from_stage": change.seconds_in_from_stage,
        "pipeline_id": change.pipeline_id,
        "pipeline_version": change.pipeline_version,
        "from_pipeline_version": change.from_pipeline_version,
        "kind": change.kind,
        # A string, not a list: FerretDB stores no arrays inside an array's documents
        # reliably (criteria names hold no comma).
        "overridden": ",".join(change.overridden) or None,
    }


def stage_change_from_doc(doc: Mapping[str, Any]) -> StageChange:
    return StageChange(
        id=doc.get("id") or "",
        from_stage=doc.get("from_stage"),
        to_stage=doc.get("to_stage") or "",
        at=doc["at"],
        by=doc.get("by"),
        seconds_in_from_stage=doc.get("seconds_in_from_stage"),
        pipeline_id=doc.get("pipeline_id") or "",
        pipeline_version=int(doc.get("pipeline_version") or 1),
        from_pipeline_version=doc.get("from_pipeline_version"),
        kind=doc.get("kind") or "move",
        overridden=[name for name in (doc.get("overridden") or "").split(",") if name],
    )


def owner_change_to_doc(change: OwnerChange) -> Doc:
    return {
        "from_owner_id": change.from_owner_id,
        "to_owner_id": change.to_owner_id,
        "at": change.at,
        "by": change.by,
        "handover_id": change.handover_id,
        "note": change.note,
    }


def owner_change_from_doc(doc: Mapping[str, Any]) -> OwnerChange:
    return OwnerChange(
        from_owner_id=doc.get("from_owner_id"),
        to_owner_id=doc.get("to_owner_id"),
        at=doc["at"],
        by=doc.get("by"),
        handover_id=doc.get("handover_id"),
        note=doc.get("note"),
    )


def deal_to_doc(deal: Deal) -> Doc:
    return {
        "_id": deal.id,
        "workspace_id": deal.workspace_id,
        "title": deal.title,
        "amount_minor": deal.amount_minor,
        "currency": deal.currency,
        "pipeline_id": deal.pipeline_id,
        "pipeline_version": deal.pipeline_version,
        "stage_key": deal.stage_key,
        "stage_probability": deal.stage_probability,
        "forecast_category": deal.forecast_category,
        "status": deal.status,
        "owner_id": deal.owner_id,
        "company_id": deal.company_id,
        "company_deleted": deal.company_deleted,
        "primary_contact_id": deal.primary_contact_id,
        "contact_ids": list(deal.contact_ids),
        "deleted_contact_ids": list(deal.deleted_contact_ids),
        "probability_override": deal.probability_override,
        "probability_model": deal.probability_model,
        "expected_close_date": deal.expected_close_date,
        "next_step": deal.next_step,
        "next_step_date": deal.next_step_date,
        "source": deal.source,
        "product": deal.product,
        "lost_reason": deal.lost_reason,
        "closed_at": deal.closed_at,
        "custom_fields": dict(deal.custom_fields),
        "stage_entered_at": deal.stage_entered_at,
        "last_activity_at": deal.last_activity_at,
        "completed_playbook_keys": list(deal.completed_playbook_keys),
        "stage_history": [stage_change_to_doc(c) for c in deal.stage_history],
        "owner_changes": [owner_change_to_doc(c) for c in deal.owner_changes],
        "field_changes": [
            {"at": c.at, "field": c.field, "previous": c.previous} for c in deal.field_changes
        ],
        "activity_log": [{"at": a.at, "kind": a.kind} for a in deal.activity_log],
        "external_id": deal.external_id,
        "import_job": deal.import_job,
        "rev": deal.rev,
        "created_at": deal.created_at,
        "created_by": deal.created_by,
        "updated_at": deal.updated_at,
        "updated_by": deal.updated_by,
        "deleted_at": deal.deleted_at,
        # Derived, stored for queries (see the module doc).
        "probability": deal.probability,
        "weighted_minor": deal.weighted_minor,
        "close_date": deal.close_date,
        "close_month": deal.close_month,
        "close_sort": deal.close_sort,
        "stale_at": deal.stale_at,
    }


# Lists no audit entry shows (`config.AUDIT`) and every reader takes absent for empty:
# left out of a slim document when empty. The audited ones (`contact_ids`...) stay: the
# audit's diff tells `[]` from absent.
UNAUDITED_LISTS = ("owner_changes", "field_changes", "activity_log")


def slim_deal_doc(deal: Deal, workspace_id: str) -> Doc:
    """`deal_to_doc` without null fields, top-level and in the stage history's entries,
    nor the empty `UNAUDITED_LISTS` (absent reads as null or empty everywhere), in
    `workspace_id`: an imported deal as a bulk insert stores it (FerretDB's insert costs
    follow the fields and bytes: `bench/import/bytes.py`)."""
    doc = {name: value for name, value in deal_to_doc(deal).items() if value is not None}
    doc["stage_history"] = [
        {key: value for key, value in change.items() if value is not None}
        for change in doc["stage_history"]
    ]
    for name in UNAUDITED_LISTS:
        if not doc[name]:
            del doc[name]
    doc["workspace_id"] = workspace_id
    return doc


def deal_from_doc(doc: Mapping[str, Any]) -> Deal:
    return Deal(**deal_fields(doc), **deal_histories(doc))


def deal_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A stored deal's fields but its histories (`deal_histories`), as `Deal` arguments."""
    get = doc.get
    return dict(
        id=doc["_id"],
        workspace_id=doc["workspace_id"],
        title=get("title") or "",
        amount_minor=int(get("amount_minor") or 0),
        currency=get("currency") or "USD",
        pipeline_id=get("pipeline_id") or "",
        pipeline_version=int(get("pipeline_version") or 1),
        stage_key=get("stage_key") or "",
        stage_probability=int(get("stage_probability") or 0),
        forecast_category=get("forecast_category") or "pipeline",
        status=get("status") or "open",
        owner_id=get("owner_id"),
        company_id=get("company_id"),
        company_deleted=bool(get("company_deleted")),
        primary_contact_id=get("primary_contact_id"),
        contact_ids=list(get("contact_ids") or []),
        deleted_contact_ids=list(get("deleted_contact_ids") or []),
        probability_override=get("probability_override"),
        probability_model=get("probability_model"),
        expected_close_date=get("expected_close_date"),
        next_step=get("next_step"),
        next_step_date=get("next_step_date"),
        source=get("source"),
        product=get("product"),
        lost_reason=get("lost_reason"),
        closed_at=get("closed_at"),
        custom_fields=dict(get("custom_fields") or {}),
        stage_entered_at=get("stage_entered_at"),
        last_activity_at=get("last_activity_at"),
        completed_playbook_keys=list(get("completed_playbook_keys") or []),
        external_id=get("external_id"),
        import_job=get("import_job"),
        rev=int(get("rev") or 1),
        created_at=get("created_at"),
        created_by=get("created_by"),
        updated_at=get("updated_at"),
        updated_by=get("updated_by"),
        deleted_at=get("deleted_at"),
        stale_at=get("stale_at"),
    )


def deal_histories(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A stored deal's histories converted, as `Deal` arguments (the read path converts
    each when first asked for: `read_deals.ReadDeal`)."""
    return {name: convert(doc) for name, convert in HISTORIES.items()}


def _stage_history(doc: Mapping[str, Any]) -> list[Any]:
    return [stage_change_from_doc(c) for c in doc.get("stage_history") or []]


def _owner_changes(doc: Mapping[str, Any]) -> list[Any]:
    return [owner_change_from_doc(c) for c in doc.get("owner_changes") or []]


def _field_changes(doc: Mapping[str, Any]) -> list[Any]:
    changes = doc.get("field_changes") or []
    return [FieldChange(c["at"], c["field"], c.get("previous")) for c in changes]


def _activity_log(doc: Mapping[str, Any]) -> list[Any]:
    return [
        Activity(a["at"], a.get("kind") or "interaction")
        for a in doc.get("activity_log") or []
        if a.get("at") is not None
    ]


HISTORIES: dict[str, Callable[[Mapping[str, Any]], list[Any]]] = {
    "stage_history": _stage_history,
    "owner_changes": _owner_changes,
    "field_changes": _field_changes,
    "activity_log": _activity_log,
}


def history_from_doc(doc: Mapping[str, Any]) -> DealHistory:
    """What the win model reads of a stored deal document, or of one shaped like it (the
    forecast bench's generated data): only the fields it needs, any of them missing."""
    custom = doc.get("custom_fields") or {}
    return DealHistory(
        id=doc["_id"],
        status=doc.get("status") or "open",
        stage_key=doc.get("stage_key") or "",
        stage_probability=int(doc.get("stage_probability") or 0),
        created_at=doc.get("created_at"),
        closed_at=doc.get("closed_at"),
        entries=tuple(
            sorted(
                (
                    (c.get("to_stage") or "", c["at"])
                    for c in doc.get("stage_history") or []
                    if c.get("at") is not None
                ),
                key=lambda e: e[1],
            )
        ),
        owner_id=doc.get("owner_id"),
        owner_changes=tuple(
            sorted(
                (c["at"], c.get("from_owner_id"))
                for c in doc.get("owner_changes") or []
                if c.get("at") is not None
            )
        ),
        values={
            "amount": doc.get("amount_minor"),
            "currency": doc.get("currency"),
            "product": doc.get("product"),
            "source": doc.get("source"),
            "companyId": doc.get("company_id"),
            "customFields": dict(custom),
        },
        field_changes=tuple(
            sorted(
                ((c["at"], c["field"], c.get("previous")) for c in doc.get("field_changes") or []),
                key=lambda c: c[0],
            )
        ),
        activity=tuple(
            (a["at"], a.get("kind") or "interaction")
            for a in doc.get("activity_log") or []
            if a.get("at") is not None
        ),
        probability_model=doc.get("probability_model"),
    )


# --- pipelines ---------------------------------------------------------------------------


def stage_to_doc(stage: Stage) -> Doc:
    return {
        "key": stage.key,
        "name": stage.name,
        "probability": stage.probability,
        "forecast_category": stage.forecast_category,
        "rotting_days": stage.rotting_days,
        "description": stage.description,
        "exit_criteria": {
            "required_fields": list(stage.exit_criteria.required_fields),
            "playbook_keys": list(stage.exit_criteria.playbook_keys),
            "primary_contact_required": stage.exit_criteria.primary_contact_required,
        },
        "playbook": [
            {
                "key": t.key,
                "title": t.title,
                "type": t.type,
                "due_offset_days": t.due_offset_days,
                "assignee": {
                    "rule": t.assignee.rule,
                    "team_id": t.assignee.team_id,
                    "user_id": t.assignee.user_id,
                },
                "description": t.description,
            }
            for t in stage.playbook
        ],
    }


def stage_from_doc(doc: Mapping[str, Any]) -> Stage:
    criteria = doc.get("exit_criteria") or {}
    return Stage(
        key=doc["key"],
        name=doc["name"],
        probability=int(doc["probability"]),
        forecast_category=doc["forecast_category"],
        rotting_days=doc.get("rotting_days"),
        description=doc.get("description"),
        exit_criteria=ExitCriteria(
            required_fields=tuple(criteria.get("required_fields") or ()),
            playbook_keys=tuple(criteria.get("playbook_keys") or ()),
            primary_contact_required=bool(criteria.get("primary_contact_required")),
        ),
        playbook=tuple(
            TaskTemplate(
                key=t["key"],
                title=t["title"],
                type=t["type"],
                due_offset_days=int(t.get("due_offset_days") or 0),
                assignee=AssigneeRule(**(t.get("assignee") or {"rule": "owner"})),
                description=t.get("description"),
            )
            for t in doc.get("playbook") or ()
        ),
    )


def pipeline_to_doc(pipeline: Pipeline) -> Doc:
    return {
        "_id": pipeline.id,
        "workspace_id": pipeline.workspace_id,
        "name": pipeline.name,
        "version": pipeline.version,
        "currency": pipeline.currency,
        "is_default": pipeline.is_default,
        "stages": [stage_to_doc(s) for s in pipeline.stages],
        "previous": [
            {
                "version": old.version,
                "name": old.name,
                "stages": [stage_to_doc(s) for s in old.stages],
                "created_at": old.created_at,
                "created_by": old.created_by,
            }
            for old in pipeline.previous
        ],
        "created_at": pipeline.created_at,
        "updated_at": pipeline.updated_at,
        "updated_by": pipeline.updated_by,
    }


def pipeline_from_doc(doc: Mapping[str, Any]) -> Pipeline:
    return Pipeline(
        id=doc["_id"],
        workspace_id=doc["workspace_id"],
        name=doc["name"],
        version=int(doc["version"]),
        currency=doc.get("currency") or "USD",
        is_default=bool(doc.get("is_default")),
        stages=tuple(stage_from_doc(s) for s in doc["stages"]),
        previous=tuple(
            PipelineVersion(
                version=int(old["version"]),
                name=old["name"],
                stages=tuple(stage_from_doc(s) for s in old["stages"]),
                created_at=old.get("created_at"),
                created_by=old.get("created_by"),
            )
            for old in doc.get("previous") or ()
        ),
        created_at=doc.get("created_at"),
        updated_at=doc.get("updated_at"),
        updated_by=doc.get("updated_by"),
    )


# --- handovers ---------------------------------------------------------------------------


def handover_to_doc(handover: Handover) -> Doc:
    return {
        "_id": handover.id,
        "workspace_id": handover.workspace_id,
        "from_owner_id": handover.from_owner_id,
        "to_owner_id": handover.to_owner_id,
        "pipeline_id": handover.pipeline_id,
        "deal_ids": list(handover.deal_ids),
        "note": handover.note,
        "by": handover.by,
        "at": handover.at,
    }


def handover_from_doc(doc: Mapping[str, Any]) -> Handover:
    return Handover(
        id=doc["_id"],
        workspace_id=doc["workspace_id"],
        from_owner_id=doc["from_owner_id"],
        to_owner_id=doc["to_owner_id"],
        pipeline_id=doc.get("pipeline_id"),
        note=doc.get("note"),
        by=doc.get("by") or "",
        at=doc["at"],
        deal_ids=list(doc.get("deal_ids") or []),
    )


# --- record types ----------------------------------------------------------------------

# Scalar unique key on purpose: FerretDB enforces unique indexes on scalars only. Every
# write of a deal is conditional on its revision (`rev`), which it increments.
DEAL = RecordType(
    DEALS, deal_to_doc, deal_from_doc, unique=("external_id",), versioned=True, version_field="rev"
)
PIPELINE = RecordType(PIPELINES, pipeline_to_doc, pipeline_from_doc)
HANDOVER = RecordType(HANDOVERS, handover_to_doc, handover_from_doc)

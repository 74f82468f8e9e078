"""Events published by the deals service and its request/reply endpoints."""

from __future__ import annotations

from pydantic import Field

from .audit_trail import AuditTrailReply, AuditTrailRequest
from .base import Payload, UtcDateTime
from .endpoints import COMMON_ERRORS, RpcEndpoint
from .envelope import event_subject
from .streams import rpc_subject

SERVICE = "deals"

DEAL_CREATED = event_subject(SERVICE, "deal", "created")
DEAL_UPDATED = event_subject(SERVICE, "deal", "updated")
DEAL_STAGE_CHANGED = event_subject(SERVICE, "deal", "stage_changed")
DEAL_WON = event_subject(SERVICE, "deal", "won")
DEAL_LOST = event_subject(SERVICE, "deal", "lost")
DEAL_REOPENED = event_subject(SERVICE, "deal", "reopened")
DEAL_DELETED = event_subject(SERVICE, "deal", "deleted")
PIPELINE_CREATED = event_subject(SERVICE, "pipeline", "created")
PIPELINE_UPDATED = event_subject(SERVICE, "pipeline", "updated")
WIN_MODEL_TRAINED = event_subject(SERVICE, "win_model", "trained")
# One summary per owner handover (`handOverDeals`); each moved deal has its own
# `deal.updated` with `ownerId` in `changedFields` as well.
DEALS_HANDED_OVER = event_subject(SERVICE, "deals", "handed_over")

RPC_DEAL_GET = rpc_subject(SERVICE, "deal", "get")
RPC_DEALS_BY_CONTACT = rpc_subject(SERVICE, "deal", "list_by_contact")
RPC_DEALS_BY_COMPANY = rpc_subject(SERVICE, "deal", "list_by_company")
RPC_PIPELINE_GET = rpc_subject(SERVICE, "pipeline", "get")
# The deals another owner's import rows name by external id (tasks), one request per batch.
RPC_IMPORT_REFERENCES = rpc_subject(SERVICE, "import", "references")
RPC_AUDIT_TRAIL = rpc_subject(SERVICE, "audit", "trail")
RPC_WIN_MODEL_TRAIN = rpc_subject(SERVICE, "win_model", "train")
# Added: a stage move asked by another service (the tasks service's automation rules).
RPC_DEAL_MOVE = rpc_subject(SERVICE, "deal", "move")


class AssigneeRule(Payload):
    """Who gets a playbook task: the deal owner, a team (its strategy picks a member) or a
    named user."""

    rule: str  # owner | team | user
    team_id: str | None = None
    user_id: str | None = None


class TaskTemplate(Payload):
    key: str
    title: str
    type: str  # call, email, meeting, todo, follow_up
    due_offset_days: int = 0
    assignee: AssigneeRule = AssigneeRule(rule="owner")
    description: str | None = None


class DealSnapshot(Payload):
    id: str
    title: str
    amount_minor: int  # exact amount in minor units of `currency` (no floats on the wire)
    currency: str
    owner_id: str | None = None
    company_id: str | None = None
    primary_contact_id: str | None = None
    contact_ids: list[str] = []
    pipeline_id: str
    pipeline_version: int
    stage_key: str
    status: str  # open | won | lost
    probability: int
    forecast_category: str
    expected_close_date: str | None = None  # YYYY-MM-DD
    # Added (additive): the amount as a decimal string in `currency` (what `{{deal.amount}}`
    # renders; consumers need no currency table).
    amount_text: str | None = None


class DealCreated(Payload):
    deal: DealSnapshot


class DealUpdated(Payload):
    deal: DealSnapshot
    changed_fields: list[str]
    # Set when `ownerId` changed: who owned the deal before (the tasks service moves that
    # person's active tasks of the deal to the new owner).
    previous_owner_id: str | None = None


class DealStageChanged(Payload):
    """One recorded stage change. `stage_change_id` is unique per change and is the natural
    idempotency key for whatever a consumer creates from it (e.g. playbook tasks)."""

    stage_change_id: str
    deal_id: str
    pipeline_id: str
    pipeline_version: int
    from_stage: str | None
    to_stage: str
    changed_at: UtcDateTime
    changed_by: str | None = None
    owner_id: str | None = None
    seconds_in_from_stage: int | None = None
    playbook: list[TaskTemplate] = []
    deal: DealSnapshot
    # Added (additive): exit criteria that did not hold and were passed anyway, by an
    # admin's explicit override (`override: true`); empty on every ordinary change.
    overridden_criteria: list[str] = []
    # Added (additive): the change's place in the deal's stage history (1 = the first
    # stage it entered). Strictly increasing per deal, whatever the clocks say: how a
    # consumer tells a late or redelivered event from the changes after it.
    stage_sequence: int | None = None


class DealClosed(Payload):
    """Payload of won and lost. `stageSequence` (added) is the close's place in the deal's
    stage history, as on `stage_changed`."""

    deal: DealSnapshot
    stage_change_id: str
    closed_at: UtcDateTime
    lost_reason: str | None = None
    stage_sequence: int | None = None


class DealReopened(Payload):
    """`stageSequence` and `reopenedAt` (added): the reopen's place in the deal's stage
    history and its time; a close with a lower sequence is older than this reopen."""

    deal: DealSnapshot
    stage_change_id: str
    stage_sequence: int | None = None
    reopened_at: UtcDateTime | None = None


class DealDeleted(Payload):
    id: str
    # Added (additive): who held it, so live updates reach only those who saw it.
    owner_id: str | None = None


# --- pipelines (added with the deals service; additive) -----------------------------------


class StageSnapshot(Payload):
    key: str
    name: str
    probability: int
    forecast_category: str  # pipeline | best_case | commit | closed
    rotting_days: int | None = None
    playbook: list[TaskTemplate] = []


class PipelineSnapshot(Payload):
    id: str
    name: str
    version: int
    currency: str
    is_default: bool = False
    stages: list[StageSnapshot]  # ordered; the terminal `won` and `lost` come last


class PipelineCreated(Payload):
    pipeline: PipelineSnapshot


class PipelineUpdated(Payload):
    """A new version of the pipeline; deals stay on their version until moved."""

    pipeline: PipelineSnapshot
    previous_version: int


# --- win model (additive) ---------------------------------------------------------------


class WinModelStageSummary(Payload):
    """One open stage of a learned win model: closed deals that were in it, how many were
    won, and the smoothed win rate (0-1) an open deal of age 0 in it gets."""

    key: str
    default_probability: int
    samples: int
    wins: int
    win_rate: float


class WinModelTrained(Payload):
    """A pipeline's win model was (re)trained from its closed deals; open deals whose
    estimate changed follow as `deal.updated` with `modelProbability` in `changedFields`.
    Brier scores come from a time-ordered backtest (null with too few closed deals)."""

    pipeline_id: str
    pipeline_version: int
    trained_at: UtcDateTime
    trained_by: str | None = None
    training_deals: int
    stages: list[WinModelStageSummary]
    test_deals: int = 0
    brier_score: float | None = None
    baseline_brier_score: float | None = None
    # Added (additive, the feature model of issue 18): the model's version and status
    # (MODEL, or STAGE_DEFAULTS with the reasons' codes), the horizon its probabilities
    # refer to, and the backtest's constant-rate Brier score, AUC and calibration error.
    # `stages[].samples` / `wins` are then training snapshots of open deals in the stage.
    version: int | None = None
    status: str | None = None
    reasons: list[str] = []
    horizon_days: int | None = None
    constant_brier_score: float | None = None
    auc: float | None = None
    expected_calibration_error: float | None = None


# --- owner handover (additive) ------------------------------------------------------------


class DealsHandedOver(Payload):
    """A manager handed the open deals of one owner to another (`handOverDeals`). Sent once
    per handover that moved at least one deal, after every moved deal's own `deal.updated`
    (`changedFields: ["ownerId"]`). `handoverId` is deterministic (workspace, from, to,
    pipeline, the deals found), so a repeat of the same request is the same id; `dealIds` are
    the deals actually moved. The tasks service reassigns those deals' active tasks of
    `fromOwnerId` to `toOwnerId`."""

    handover_id: str
    workspace_id: str
    from_owner_id: str
    to_owner_id: str
    deal_ids: list[str]
    pipeline_id: str | None = None  # the pipeline it was limited to, null for all
    note: str | None = None
    handed_over_by: str
    handed_over_at: UtcDateTime


# --- request/reply bodies (JSON, camelCase; `crm_kit.rpc`) ------------------------------


class DealGetRequest(Payload):
    id: str


class DealImportReferencesRequest(Payload):
    """Up to 1,000 deal external ids."""

    external_ids: list[str] = Field(default=[], max_length=1000)


class DealImportReferences(Payload):
    """Reply of import.references: each external id of a live deal -> the deal's id."""

    external_ids: dict[str, str] = {}


class DealsByContactRequest(Payload):
    contact_id: str
    status: str | None = None  # open | won | lost
    after: str | None = None  # `nextCursor` of the previous page


class DealsByCompanyRequest(Payload):
    company_id: str
    status: str | None = None  # open | won | lost
    after: str | None = None


class PipelineGetRequest(Payload):
    id: str | None = None  # none: the workspace's default pipeline


class DealMoveRequest(Payload):
    """Move a deal to a stage as the caller the assertion names, under the same rules as
    `moveDeal`: a forward move needs the exit criteria of the stage left and of every stage
    skipped (PRECONDITION_FAILED naming them otherwise); no override is possible here.
    `won` closes the deal won; `lost` is refused (it needs a reason). Moving a deal to the
    stage it is in changes nothing (a repeat is harmless).

    Added (additive): `fromStageKey` and `stageSequence`, the stage the mover saw the deal
    in and how many stage changes it had then (`DealReply.stageSequence`, an event's
    `stageSequence`). A deal no longer there (moved on meanwhile) is not moved: the
    answer is STAGE_CHANGED, final, so a move asked again after a crash or delivered
    late never takes a deal back. A deal already in `stageKey` is answered as moved."""

    id: str
    stage_key: str
    from_stage_key: str | None = None
    stage_sequence: int | None = None


class WinModelTrainRequest(Payload):
    pipeline_id: str | None = None  # none: the default pipeline


class DealReply(DealSnapshot):
    """A deal as request/reply answers it: the snapshot and its money and stage dates."""

    amount: str  # decimal, in `currency`
    stage_entered_at: str | None = None  # ISO 8601
    last_activity_at: str | None = None
    closed_at: str | None = None
    lost_reason: str | None = None
    completed_playbook_keys: list[str] = []
    # Added (additive): how many stage changes the deal has had (its history's length):
    # what a move request names as the `stageSequence` it expects.
    stage_sequence: int | None = None


class DealPage(Payload):
    """At most 200 deals; `nextCursor` pages on (`after`)."""

    deals: list[DealReply]
    total_count: int
    next_cursor: str | None = None


class ExitCriteria(Payload):
    required_fields: list[str] = []
    playbook_keys: list[str] = []
    primary_contact_required: bool = False


class StageReply(StageSnapshot):
    exit_criteria: ExitCriteria


class PipelineReply(PipelineSnapshot):
    stages: list[StageReply]  # type: ignore[assignment]


class WinModelTrainReply(WinModelTrained):
    deals_updated: int


EVENTS: dict[str, type[Payload]] = {
    DEAL_CREATED: DealCreated,
    DEAL_UPDATED: DealUpdated,
    DEAL_STAGE_CHANGED: DealStageChanged,
    DEAL_WON: DealClosed,
    DEAL_LOST: DealClosed,
    DEAL_REOPENED: DealReopened,
    DEAL_DELETED: DealDeleted,
    PIPELINE_CREATED: PipelineCreated,
    PIPELINE_UPDATED: PipelineUpdated,
    WIN_MODEL_TRAINED: WinModelTrained,
    DEALS_HANDED_OVER: DealsHandedOver,
}

ENDPOINTS: tuple[RpcEndpoint, ...] = (
    RpcEndpoint(
        RPC_AUDIT_TRAIL,
        "One page of the audit trail of a deal or pipeline, as the caller may read it "
        "(the platform's `auditTrail(recordId)` asks each service).",
        AuditTrailRequest,
        AuditTrailReply,
        roles="read",
        errors=(*COMMON_ERRORS, "NOT_FOUND"),
    ),
    RpcEndpoint(
        RPC_IMPORT_REFERENCES,
        "Ids of the live deals an import batch names by external id (up to 1,000): one "
        "request per batch.",
        DealImportReferencesRequest,
        DealImportReferences,
        roles="read",
    ),
    RpcEndpoint(
        RPC_DEAL_GET,
        "A deal by id.",
        DealGetRequest,
        DealReply,
        roles="read",
        errors=(*COMMON_ERRORS, "NOT_FOUND"),
    ),
    RpcEndpoint(
        RPC_DEALS_BY_CONTACT,
        "The deals of a contact, a page of up to 200.",
        DealsByContactRequest,
        DealPage,
        roles="read",
    ),
    RpcEndpoint(
        RPC_DEALS_BY_COMPANY,
        "The deals of a company, a page of up to 200.",
        DealsByCompanyRequest,
        DealPage,
        roles="read",
    ),
    RpcEndpoint(
        RPC_PIPELINE_GET,
        "A pipeline with its stages, playbooks and exit criteria.",
        PipelineGetRequest,
        PipelineReply,
        roles="read",
        errors=(*COMMON_ERRORS, "NOT_FOUND"),
    ),
    RpcEndpoint(
        RPC_DEAL_MOVE,
        "Move a deal to a stage (the exit criteria hold as for moveDeal, without override).",
        DealMoveRequest,
        DealReply,
        roles="write",
        errors=(*COMMON_ERRORS, "NOT_FOUND", "CONFLICT", "PRECONDITION_FAILED", "STAGE_CHANGED"),
        callers=("tasks", "cli"),
    ),
    RpcEndpoint(
        RPC_WIN_MODEL_TRAIN,
        "Train a pipeline's win model now and apply its estimates to the open deals.",
        WinModelTrainRequest,
        WinModelTrainReply,
        roles="admin",
        errors=(*COMMON_ERRORS, "NOT_FOUND"),
        callers=("cli",),
    ),
)

"""NATS request/reply endpoints (micro service `crm-deals`): reads for any role, and a stage
move for writers (the tasks service's automation rules), acting as the caller that the
request's verified assertion names (`crm_kit.rpc`).

Replies are `{"data": ...}`; failures carry `{"error": {"code", "message"}}` with codes
UNAUTHENTICATED, FORBIDDEN, BAD_REQUEST, NOT_FOUND, CONFLICT, PRECONDITION_FAILED or
INTERNAL. Documented with examples in the README.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from crm_contracts import deals as contract
from crm_kit.audit_rpc import trail_endpoint
from crm_kit.clock import iso
from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, CRMError
from crm_kit.rpc import READ, WRITE, Endpoint, RpcError

from ..domain.deal import Deal
from ..domain.money import format_amount
from ..domain.pipeline import Pipeline
from ..domain.queries import DealSelection
from ..events.publish import pipeline_snapshot, snapshot
from ..usecases import audit, pipelines
from ..usecases.deals import ExpectedStage, find_deal, move_deal
from ..usecases.queries import list_deals
from ..usecases.scope import Scopes
from ..usecases.visibility import reads_amounts

LIST_LIMIT = 200
# A refused move keeps its GraphQL code (the caller tells a refusal from an outage by it).
_RPC_CODES = {
    "BAD_USER_INPUT": "BAD_REQUEST",
    "NOT_FOUND": "NOT_FOUND",
    "FORBIDDEN": "FORBIDDEN",
    "CONFLICT": "CONFLICT",
    "PRECONDITION_FAILED": "PRECONDITION_FAILED",
    "STAGE_CHANGED": "STAGE_CHANGED",
}


def _time(moment: datetime | None) -> str | None:
    return iso(moment) if moment is not None else None


# The money of a deal on the wire: null for a caller whose role may not read amounts.
MONEY_KEYS = ("amount", "amountMinor", "amountText")


def deal_json(deal: Deal, *, amounts: bool = True) -> dict[str, Any]:
    body = {
        **snapshot(deal).wire(),
        "amount": format_amount(deal.amount_minor, deal.currency),
        "stageEnteredAt": _time(deal.stage_entered_at),
        "lastActivityAt": _time(deal.last_activity_at),
        "closedAt": _time(deal.closed_at),
        "lostReason": deal.lost_reason,
        "completedPlaybookKeys": list(deal.completed_playbook_keys),
        "stageSequence": len(deal.stage_history),
    }
    if not amounts:
        body.update(dict.fromkeys(MONEY_KEYS))
    return body


def pipeline_json(pipeline: Pipeline) -> dict[str, Any]:
    body = pipeline_snapshot(pipeline).wire()
    by_key = {s.key: s for s in pipeline.stages}
    for stage in body["stages"]:
        criteria = by_key[stage["key"]].exit_criteria
        stage["exitCriteria"] = {
            "requiredFields": list(criteria.required_fields),
            "playbookKeys": list(criteria.playbook_keys),
            "primaryContactRequired": criteria.primary_contact_required,
        }
    return body


def _required(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        raise RpcError("BAD_REQUEST", f"body needs a non-empty string {key!r}")
    return value


def _expected_stage(payload: dict[str, Any]) -> ExpectedStage | None:
    """Where the mover saw the deal (`fromStageKey`, and `stageSequence` when known)."""
    stage, sequence = payload.get("fromStageKey"), payload.get("stageSequence")
    if stage is None and sequence is None:
        return None
    if not isinstance(stage, str) or not stage:
        raise RpcError("BAD_REQUEST", "'fromStageKey' must be a non-empty string")
    if sequence is not None and (
        isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1
    ):
        raise RpcError("BAD_REQUEST", "'stageSequence' must be a positive integer")
    return ExpectedStage(stage, sequence)


def endpoints(scopes: Scopes) -> list[Endpoint]:
    async def get_deal(caller: RequestContext, payload: dict[str, Any]) -> Any:
        scope = scopes(caller)
        deal = await find_deal(scope, _required(payload, "id"))
        if deal is None:
            raise RpcError("NOT_FOUND", f"no deal {payload['id']!r}")
        return deal_json(deal, amounts=await reads_amounts(scope))

    async def list_by(
        caller: RequestContext, selection: DealSelection, payload: dict[str, Any]
    ) -> Any:
        status = payload.get("status")
        if status is not None and status not in ("open", "won", "lost"):
            raise RpcError("BAD_REQUEST", "status must be open, won or lost")
        after = payload.get("after")
        if after is not None and not isinstance(after, str):
            raise RpcError("BAD_REQUEST", "after must be a cursor string")
        scope = scopes(caller)
        try:
            page = await list_deals(
                scope, replace(selection, status=status), first=LIST_LIMIT, after=after
            )
        except BadUserInput as error:
            raise RpcError("BAD_REQUEST", error.message) from None
        amounts = await reads_amounts(scope)
        return {
            "deals": [deal_json(d, amounts=amounts) for d in page.items],
            "totalCount": page.total,
            "nextCursor": page.cursors[-1] if page.has_next else None,
        }

    async def by_contact(caller: RequestContext, payload: dict[str, Any]) -> Any:
        return await list_by(
            caller, DealSelection(contact_id=_required(payload, "contactId")), payload
        )

    async def by_company(caller: RequestContext, payload: dict[str, Any]) -> Any:
        return await list_by(
            caller, DealSelection(company_id=_required(payload, "companyId")), payload
        )

    async def get_pipeline(caller: RequestContext, payload: dict[str, Any]) -> Any:
        scope = scopes(caller)
        pipeline_id = payload.get("id")
        if pipeline_id is not None and not isinstance(pipeline_id, str):
            raise RpcError("BAD_REQUEST", "id must be a string")
        found = (
            await pipelines.find_pipeline(scope, pipeline_id)
            if pipeline_id
            else await pipelines.ensure_default(scope)
        )
        if found is None:
            raise RpcError("NOT_FOUND", f"no pipeline {pipeline_id!r}")
        return pipeline_json(found)

    async def move(caller: RequestContext, payload: dict[str, Any]) -> Any:
        deal_id, stage_key = _required(payload, "id"), _required(payload, "stageKey")
        expected = _expected_stage(payload)
        try:
            moved = await move_deal(scopes(caller), deal_id, stage_key, expected=expected)
        except CRMError as error:
            raise RpcError(_RPC_CODES.get(error.code, "INTERNAL"), error.message) from None
        return deal_json(moved)

    return [
        trail_endpoint(contract.RPC_AUDIT_TRAIL, scopes, audit.readable),
        Endpoint("deal-get", contract.RPC_DEAL_GET, get_deal, "A deal by id: {id}", roles=READ),
        Endpoint(
            "deal-move",
            contract.RPC_DEAL_MOVE,
            move,
            "Move a deal to a stage, exit criteria enforced, no override: "
            "{id, stageKey, fromStageKey?, stageSequence?}",
            roles=WRITE,
            callers=frozenset({"tasks", "cli"}),
        ),
        Endpoint(
            "deal-list-by-contact",
            contract.RPC_DEALS_BY_CONTACT,
            by_contact,
            "Deals of a contact: {contactId, status?, after?}",
            roles=READ,
        ),
        Endpoint(
            "deal-list-by-company",
            contract.RPC_DEALS_BY_COMPANY,
            by_company,
            "Deals of a company: {companyId, status?, after?}",
            roles=READ,
        ),
        Endpoint(
            "pipeline-get",
            contract.RPC_PIPELINE_GET,
            get_pipeline,
            "A pipeline with its stages: {id} (omit id for the default pipeline)",
            roles=READ,
        ),
    ]

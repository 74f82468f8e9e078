"""The small keyed records' documents (training jobs, leases, forecast submissions and
quotas, daily snapshots, company facts, exchange rates): one document each, `_id` =
`<workspace>:<key>`, read and written by `_id` (the one look-up FerretDB's SQLite backend
serves from an index) and scanned per workspace only by reports and training."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from crm_kit.clock import parse_iso
from crm_kit.leases import lease_doc
from crm_kit.records import RecordType

from ..config import (
    COMPANY_FACTS,
    EXCHANGE_RATES,
    FORECAST_SNAPSHOTS,
    FORECAST_SUBMISSIONS,
    QUOTAS,
    WIN_MODEL_JOBS,
)
from ..domain.rates import Rate
from ..domain.records import (
    CompanyFacts,
    EnteredRate,
    ForecastSnapshot,
    Lease,
    Quota,
    SnapshotMonth,
    Submission,
    TrainingJob,
)
from .documents import Doc, keyed


def job_to_doc(job: TrainingJob) -> Doc:
    return {
        "_id": keyed(job.workspace_id, job.id),
        "workspace_id": job.workspace_id,
        "id": job.id,
        "pipeline_id": job.pipeline_id,
        "status": job.status,
        "progress": job.progress,
        "step": job.step,
        "requested_by": job.requested_by,
        "requested_at": job.requested_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "heartbeat_at": job.heartbeat_at,
        "model_version": job.model_version,
        "deals_updated": job.deals_updated,
        "error": job.error,
    }


def job_from_doc(doc: Mapping[str, Any]) -> TrainingJob:
    return TrainingJob(
        id=doc["id"],
        workspace_id=doc["workspace_id"],
        pipeline_id=doc["pipeline_id"],
        requested_by=doc.get("requested_by"),
        requested_at=doc["requested_at"],
        heartbeat_at=doc.get("heartbeat_at") or doc["requested_at"],
        status=doc.get("status") or "QUEUED",
        progress=float(doc.get("progress") or 0.0),
        step=doc.get("step") or "",
        started_at=doc.get("started_at"),
        finished_at=doc.get("finished_at"),
        model_version=doc.get("model_version"),
        deals_updated=doc.get("deals_updated"),
        error=doc.get("error"),
    )


def lease_id(workspace_id: str, key: str) -> str:
    return keyed(workspace_id, key)


def lease_to_doc(lease: Lease) -> Doc:
    fields = {
        name: value
        for name, value in (
            ("job_id", lease.job_id),
            ("pipeline_id", lease.pipeline_id),
            ("period", lease.period),
        )
        if value is not None
    }
    return lease_doc(
        lease_id(lease.workspace_id, lease.key),
        lease.taken_at,
        workspace_id=lease.workspace_id,
        **fields,
    )


def lease_from_doc(doc: Mapping[str, Any]) -> Lease:
    return Lease(
        key=str(doc["_id"]).split(":", 1)[1],
        workspace_id=doc["workspace_id"],
        taken_at=doc["taken_at"],
        job_id=doc.get("job_id"),
        pipeline_id=doc.get("pipeline_id"),
        period=doc.get("period"),
    )


def lease_kind(collection: str) -> RecordType[Lease]:
    return RecordType(collection, lease_to_doc, lease_from_doc)


# --- forecasting -------------------------------------------------------------------------


def submission_id(workspace_id: str, s: Submission) -> str:
    return keyed(workspace_id, s.pipeline_id, s.period, s.scope, s.scope_id, f"{s.version:06d}")


def submission_to_doc(s: Submission) -> Doc:
    return {
        "_id": submission_id(s.workspace_id, s),
        "workspace_id": s.workspace_id,
        "pipeline_id": s.pipeline_id,
        "period": s.period,
        "scope": s.scope,
        "scope_id": s.scope_id,
        "version": s.version,
        "currency": s.currency,
        "commit_minor": s.commit_minor,
        "best_case_minor": s.best_case_minor,
        "model_minor": s.model_minor,
        "note": s.note,
        "submitted_by": s.submitted_by,
        "submitted_at": s.submitted_at,
    }


def submission_from_doc(doc: Mapping[str, Any]) -> Submission:
    return Submission(
        workspace_id=doc["workspace_id"],
        pipeline_id=doc["pipeline_id"],
        period=doc["period"],
        scope=doc["scope"],
        scope_id=doc["scope_id"],
        version=int(doc["version"]),
        currency=doc["currency"],
        commit_minor=int(doc["commit_minor"]),
        best_case_minor=int(doc["best_case_minor"]),
        model_minor=doc.get("model_minor"),
        note=doc.get("note"),
        submitted_by=doc["submitted_by"],
        submitted_at=doc["submitted_at"],
    )


def quota_to_doc(q: Quota) -> Doc:
    return {
        "_id": keyed(q.workspace_id, q.period, q.scope, q.scope_id),
        "workspace_id": q.workspace_id,
        "period": q.period,
        "scope": q.scope,
        "scope_id": q.scope_id,
        "amount_minor": q.amount_minor,
        "currency": q.currency,
        "set_by": q.set_by,
        "set_at": q.set_at,
    }


def quota_from_doc(doc: Mapping[str, Any]) -> Quota:
    return Quota(
        workspace_id=doc["workspace_id"],
        period=doc["period"],
        scope=doc["scope"],
        scope_id=doc["scope_id"],
        amount_minor=int(doc["amount_minor"]),
        currency=doc["currency"],
        set_by=doc["set_by"],
        set_at=doc["set_at"],
    )


def _month_to_doc(m: SnapshotMonth) -> Doc:
    doc: Doc = {"owner_id": m.owner_id} if m.owner_id is not None else {}
    doc.update(
        {
            "month": m.month,
            "closed_minor": m.closed_minor,
            "commit_minor": m.commit_minor,
            "best_case_minor": m.best_case_minor,
            "weighted_minor": m.weighted_minor,
            "pipeline_minor": m.pipeline_minor,
            "open_count": m.open_count,
            "won_count": m.won_count,
        }
    )
    return doc


def _month_from_doc(doc: Mapping[str, Any]) -> SnapshotMonth:
    return SnapshotMonth(
        month=doc["month"],
        closed_minor=int(doc.get("closed_minor") or 0),
        commit_minor=int(doc.get("commit_minor") or 0),
        best_case_minor=int(doc.get("best_case_minor") or 0),
        weighted_minor=int(doc.get("weighted_minor") or 0),
        pipeline_minor=int(doc.get("pipeline_minor") or 0),
        open_count=int(doc.get("open_count") or 0),
        won_count=int(doc.get("won_count") or 0),
        owner_id=doc.get("owner_id"),
    )


def snapshot_to_doc(s: ForecastSnapshot) -> Doc:
    return {
        "_id": s.id,
        "workspace_id": s.workspace_id,
        "pipeline_id": s.pipeline_id,
        "day": s.day.isoformat(),
        "taken_at": s.taken_at,
        "taken_by": s.taken_by,
        "currency": s.currency,
        "months": [_month_to_doc(m) for m in s.months],
        "owners": [_month_to_doc(m) for m in s.owners],
    }


def snapshot_from_doc(doc: Mapping[str, Any]) -> ForecastSnapshot:
    return ForecastSnapshot(
        workspace_id=doc["workspace_id"],
        pipeline_id=doc["pipeline_id"],
        day=date.fromisoformat(doc["day"]),
        taken_at=doc["taken_at"],
        taken_by=doc.get("taken_by"),
        currency=doc["currency"],
        months=[_month_from_doc(m) for m in doc.get("months") or []],
        owners=[_month_from_doc(m) for m in doc.get("owners") or []],
    )


# --- company facts and exchange rates ----------------------------------------------------


def facts_to_doc(f: CompanyFacts) -> Doc:
    return {
        "_id": keyed(f.workspace_id, f.company_id),
        "workspace_id": f.workspace_id,
        "company_id": f.company_id,
        "industry": f.industry,
        "size": f.size,
        "version": f.version,
        "deleted": f.deleted,
    }


def _version_time(value: Any) -> datetime:
    # Early versions stored the event's time as its wire string.
    return parse_iso(value) if isinstance(value, str) else value


def facts_from_doc(doc: Mapping[str, Any]) -> CompanyFacts:
    return CompanyFacts(
        workspace_id=doc["workspace_id"],
        company_id=doc["company_id"],
        industry=doc.get("industry"),
        size=doc.get("size"),
        version=_version_time(doc["version"]),
        deleted=bool(doc.get("deleted")),
    )


def rate_to_doc(entered: EnteredRate) -> Doc:
    rate = entered.rate
    day = rate.day.isoformat()
    return {
        "_id": keyed(entered.workspace_id, rate.currency, rate.quote, day),
        "workspace_id": entered.workspace_id,
        "currency": rate.currency,
        "quote_currency": rate.quote,
        "day": day,
        "rate": str(rate.rate),
        "entered_by": entered.entered_by,
        "entered_at": entered.entered_at,
    }


def rate_from_doc(doc: Mapping[str, Any]) -> EnteredRate:
    rate = Rate(
        doc["currency"], doc["quote_currency"], date.fromisoformat(doc["day"]), Decimal(doc["rate"])
    )
    return EnteredRate(doc["workspace_id"], rate, doc.get("entered_by") or "", doc["entered_at"])


JOB = RecordType(WIN_MODEL_JOBS, job_to_doc, job_from_doc)
SUBMISSION = RecordType(FORECAST_SUBMISSIONS, submission_to_doc, submission_from_doc)
QUOTA = RecordType(QUOTAS, quota_to_doc, quota_from_doc)
SNAPSHOT = RecordType(FORECAST_SNAPSHOTS, snapshot_to_doc, snapshot_from_doc)
FACTS = RecordType(COMPANY_FACTS, facts_to_doc, facts_from_doc)
RATE = RecordType(EXCHANGE_RATES, rate_to_doc, rate_from_doc)

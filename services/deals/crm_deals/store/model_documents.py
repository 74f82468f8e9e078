"""The stored form of the learned win models (`win_models`: a pipeline's current model,
with its outbox; `win_model_versions`: a copy of every version), `_id`s starting with the
workspace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm_kit.records import RecordType

from ..config import WIN_MODEL_VERSIONS, WIN_MODELS
from ..domain.trained_model import ModelVersion, TrainedModel
from ..domain.win_encoding import Calibration, Column
from ..domain.win_model import (
    STAGE_DEFAULTS,
    Evaluation,
    Reason,
    StageSummary,
    TrainingSummary,
    WinModel,
)
from .documents import Doc, keyed


def win_model_to_doc(model: WinModel) -> Doc:
    return {
        "_id": model.id,
        "workspace_id": model.workspace_id,
        "pipeline_id": model.pipeline_id,
        "pipeline_version": model.pipeline_version,
        "version": model.version,
        "trained_at": model.trained_at,
        "trained_by": model.trained_by,
        "status": model.status,
        "horizon_days": model.horizon_days,
        "activity_days": model.activity_days,
        "training": model.training.to_doc(),
        "stages": [s.to_doc() for s in model.stages],
        "reasons": [r.to_doc() for r in model.reasons],
        "warnings": [r.to_doc() for r in model.warnings],
        "columns": [c.to_doc() for c in model.columns],
        "intercept": model.intercept,
        "calibration": {"slope": model.calibration.slope, "shift": model.calibration.shift},
        "regularization": model.regularization,
        "library": model.library,
        "importances": [{"feature": f, "importance": v} for f, v in model.importances],
        "evaluation": model.evaluation.to_doc() if model.evaluation else None,
        "known_stages": sorted(model.known_stages),
    }


def win_model_from_doc(doc: Mapping[str, Any]) -> WinModel:
    calibration = doc.get("calibration") or {}
    return WinModel(
        workspace_id=doc["workspace_id"],
        pipeline_id=doc["pipeline_id"],
        pipeline_version=int(doc.get("pipeline_version") or 1),
        version=int(doc.get("version") or 1),
        trained_at=doc["trained_at"],
        trained_by=doc.get("trained_by"),
        status=doc.get("status") or STAGE_DEFAULTS,
        horizon_days=int(doc.get("horizon_days") or 0),
        activity_days=int(doc.get("activity_days") or 0),
        training=TrainingSummary(**doc["training"]),
        stages=tuple(StageSummary(**s) for s in doc.get("stages") or []),
        reasons=tuple(Reason(**r) for r in doc.get("reasons") or []),
        warnings=tuple(Reason(**r) for r in doc.get("warnings") or []),
        columns=tuple(Column.from_doc(c) for c in doc.get("columns") or []),
        intercept=float(doc.get("intercept") or 0.0),
        calibration=Calibration(
            float(calibration.get("slope", 1.0)), float(calibration.get("shift", 0.0))
        ),
        regularization=doc.get("regularization"),
        library=doc.get("library"),
        importances=tuple(
            (i["feature"], float(i["importance"])) for i in doc.get("importances") or []
        ),
        evaluation=Evaluation.from_doc(doc["evaluation"]) if doc.get("evaluation") else None,
        known_stages=frozenset(doc.get("known_stages") or ()),
    )


def _trained_from_doc(doc: Mapping[str, Any]) -> TrainedModel:
    return TrainedModel(doc["workspace_id"], win_model_from_doc(doc))


def version_id(workspace_id: str, pipeline_id: str, version: int) -> str:
    return keyed(workspace_id, pipeline_id, f"{version:06d}")


def _version_to_doc(stored: ModelVersion) -> Doc:
    model = stored.model
    doc = win_model_to_doc(model)
    doc["_id"] = version_id(stored.workspace_id, model.pipeline_id, model.version)
    return doc


def _version_from_doc(doc: Mapping[str, Any]) -> ModelVersion:
    return ModelVersion(doc["workspace_id"], win_model_from_doc(doc))


TRAINED_MODEL = RecordType(WIN_MODELS, lambda t: win_model_to_doc(t.model), _trained_from_doc)
MODEL_VERSION = RecordType(WIN_MODEL_VERSIONS, _version_to_doc, _version_from_doc)

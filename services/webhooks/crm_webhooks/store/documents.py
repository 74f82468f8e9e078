"""The Mongo adapter's codec: domain records to documents and back, and the RecordTypes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm_kit.records import RecordType

from ..config import DELIVERIES, ENDPOINTS, LANES, WORKSPACE_SETTINGS
from ..domain.delivery import Attempt, Delivery, Lane
from ..domain.endpoint import Endpoint, Secret
from ..domain.settings import WorkspaceSettings


def endpoint_to_doc(e: Endpoint) -> dict[str, Any]:
    return {
        "_id": e.id,
        "workspace_id": e.workspace_id,
        "url": e.url,
        "events": list(e.events),
        "description": e.description,
        "secrets": [
            {"value": s.value, "created_at": s.created_at, "expires_at": s.expires_at}
            for s in e.secrets
        ],
        "created_at": e.created_at,
        "updated_at": e.updated_at,
        "enabled": e.enabled,
        "disabled_reason": e.disabled_reason,
        "failing_since": e.failing_since,
        "deleted": e.deleted,
        "version": e.version,
    }


def endpoint_from_doc(d: Mapping[str, Any]) -> Endpoint:
    return Endpoint(
        id=d["_id"],
        workspace_id=d["workspace_id"],
        url=d["url"],
        events=list(d.get("events") or []),
        description=d.get("description"),
        secrets=[Secret(s["value"], s["created_at"], s.get("expires_at")) for s in d["secrets"]],
        created_at=d["created_at"],
        updated_at=d["updated_at"],
        enabled=bool(d.get("enabled", True)),
        disabled_reason=d.get("disabled_reason"),
        failing_since=d.get("failing_since"),
        deleted=bool(d.get("deleted", False)),
        version=int(d.get("version", 0)),
    )


def delivery_to_doc(x: Delivery) -> dict[str, Any]:
    return {
        "_id": x.id,
        "workspace_id": x.workspace_id,
        "endpoint_id": x.endpoint_id,
        "event_id": x.event_id,
        "event_type": x.event_type,
        "record": x.record,
        "body": x.body,
        "created_at": x.created_at,
        "status": x.status,
        "attempts": [
            {"at": a.at, "status_code": a.status_code, "latency_ms": a.latency_ms, "error": a.error}
            for a in x.attempts
        ],
        "attempt_count": x.attempt_count,
        "series_attempts": x.series_attempts,
        "version": x.version,
    }


def delivery_from_doc(d: Mapping[str, Any]) -> Delivery:
    return Delivery(
        id=d["_id"],
        workspace_id=d["workspace_id"],
        endpoint_id=d["endpoint_id"],
        event_id=d["event_id"],
        event_type=d["event_type"],
        record=d["record"],
        body=d["body"],
        created_at=d["created_at"],
        status=d["status"],
        attempts=[
            Attempt(a["at"], a.get("status_code"), a["latency_ms"], a.get("error"))
            for a in d.get("attempts") or []
        ],
        attempt_count=int(d.get("attempt_count", 0)),
        # Written before the field existed: every attempt counts (never more retries).
        series_attempts=int(d.get("series_attempts", d.get("attempt_count", 0))),
        version=int(d.get("version", 0)),
    )


def lane_to_doc(lane: Lane) -> dict[str, Any]:
    return {
        "_id": lane.id,
        "workspace_id": lane.workspace_id,
        "queue": list(lane.queue),
        "version": lane.version,
    }


def lane_from_doc(d: Mapping[str, Any]) -> Lane:
    return Lane(d["_id"], d["workspace_id"], list(d.get("queue") or []), int(d.get("version", 0)))


def settings_to_doc(s: WorkspaceSettings) -> dict[str, Any]:
    return {
        "_id": s.id,
        "workspace_id": s.workspace_id,
        "allow_private_networks": s.allow_private_networks,
    }


def settings_from_doc(d: Mapping[str, Any]) -> WorkspaceSettings:
    return WorkspaceSettings(d["_id"], d["workspace_id"], bool(d.get("allow_private_networks")))


ENDPOINT = RecordType(ENDPOINTS, endpoint_to_doc, endpoint_from_doc, versioned=True)
DELIVERY = RecordType(DELIVERIES, delivery_to_doc, delivery_from_doc, versioned=True)
LANE = RecordType(LANES, lane_to_doc, lane_from_doc, versioned=True)
SETTINGS = RecordType(WORKSPACE_SETTINGS, settings_to_doc, settings_from_doc)

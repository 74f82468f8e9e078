"""A webhook endpoint: where a workspace's events of some types are delivered, signed with
its secret (a rotated-out secret keeps signing alongside for a grace period)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from crm_contracts.catalogue import CATALOGUE
from crm_contracts.envelope import service_of
from crm_kit.entity import Entity
from crm_kit.errors import BadUserInput

from .addresses import check_url

ALL_EVENTS = "*"
MAX_EVENTS = 100
MAX_DESCRIPTION = 500
# How long a rotated-out secret still signs (receivers switch over meanwhile).
ROTATION_GRACE = timedelta(hours=24)


def deliverable_types() -> list[str]:
    """Event types an endpoint may subscribe to: every other service's catalogued events."""
    return sorted(t for t in CATALOGUE if service_of(t) != "webhooks")


def check_events(events: list[str], field_name: str) -> list[str]:
    if not events:
        raise BadUserInput('name at least one event type (or "*" for all)', field=field_name)
    if len(events) > MAX_EVENTS:
        raise BadUserInput(f"at most {MAX_EVENTS} event types", field=field_name)
    known = set(deliverable_types())
    unknown = [e for e in events if e != ALL_EVENTS and e not in known]
    if unknown:
        raise BadUserInput(f"unknown event types {unknown[:5]}", field=field_name)
    return sorted(set(events))


def check_description(text: str | None, field_name: str) -> str | None:
    if text is not None and len(text) > MAX_DESCRIPTION:
        raise BadUserInput(f"at most {MAX_DESCRIPTION} characters", field=field_name)
    return text


@dataclass(frozen=True)
class EndpointWasDisabled:
    endpoint: Endpoint
    at: datetime


@dataclass
class Secret:
    value: str
    created_at: datetime
    expires_at: datetime | None = None  # a rotated-out secret: until then it still signs


@dataclass
class Endpoint(Entity):
    id: str
    workspace_id: str
    url: str
    events: list[str]
    description: str | None
    secrets: list[Secret]
    created_at: datetime
    updated_at: datetime
    enabled: bool = True
    disabled_reason: str | None = None
    # Since when every attempt failed (None: the last attempt succeeded).
    failing_since: datetime | None = None
    version: int = 0
    deleted: bool = field(default=False)

    def wants(self, event_type: str) -> bool:
        return ALL_EVENTS in self.events or event_type in self.events

    def signing_secrets(self, now: datetime) -> list[str]:
        return [s.value for s in self.secrets if s.expires_at is None or s.expires_at > now]

    def rotate(self, secret: str, now: datetime) -> None:
        kept = [s for s in self.secrets if s.expires_at is None or s.expires_at > now]
        for old in kept:
            if old.expires_at is None:
                old.expires_at = now + ROTATION_GRACE
        self.secrets = [Secret(secret, now), *kept]
        self.updated_at = now

    def succeeded(self) -> None:
        self.failing_since = None

    def failed(self, now: datetime) -> None:
        if self.failing_since is None:
            self.failing_since = now

    def disable(self, reason: str, now: datetime, *, announce: bool) -> None:
        self.enabled = False
        self.disabled_reason = reason
        self.updated_at = now
        if announce:
            self.raise_event(EndpointWasDisabled(self, now))

    def enable(self, now: datetime) -> None:
        self.enabled = True
        self.disabled_reason = None
        self.failing_since = None
        self.updated_at = now


def new_endpoint(
    endpoint_id: str,
    workspace_id: str,
    url: str,
    events: list[str],
    description: str | None,
    secret: str,
    now: datetime,
) -> Endpoint:
    return Endpoint(
        id=endpoint_id,
        workspace_id=workspace_id,
        url=check_url(url, "input.url"),
        events=check_events(events, "input.events"),
        description=check_description(description, "input.description"),
        secrets=[Secret(secret, now)],
        created_at=now,
        updated_at=now,
    )

"""The CloudEvents 1.0 JSON envelope every domain event travels in (GUIDE §3)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import orjson
from pydantic import BaseModel, ConfigDict, Field

from .base import UtcDateTime, as_utc, constructed, wire_time

SUBJECT_PATTERN = re.compile(r"^crm\.[a-z]+\.[a-z_]+\.[a-z_]+\.v[0-9]+$")

# NATS header names. The workspace travels in a header as well as in the envelope so that
# routers and dead-letter tooling can act on it without parsing the body.
HEADER_MSG_ID = "Nats-Msg-Id"
HEADER_WORKSPACE = "crm-workspace"
HEADER_TRACEPARENT = "traceparent"


def event_subject(service: str, entity: str, verb: str, version: int = 1) -> str:
    """`crm.<service>.<entity>.<past_tense_verb>.v<N>`, validated so typos fail at import."""
    subject = f"crm.{service}.{entity}.{verb}.v{version}"
    if not SUBJECT_PATTERN.match(subject):
        raise ValueError(f"invalid event subject {subject!r}")
    return subject


def service_of(subject: str) -> str:
    """The owning service of an event subject (only it may publish there)."""
    return subject.split(".")[1]


def source_of(service: str) -> str:
    """The CloudEvents `source` of every event the service publishes."""
    return f"crm/{service}"


class CloudEvent(BaseModel):
    """CloudEvents 1.0 structured-mode JSON, plus the CRM workspace extension attribute."""

    model_config = ConfigDict(extra="allow")

    specversion: str = "1.0"
    id: str
    source: str
    type: str
    time: UtcDateTime
    subject: str | None = None
    datacontenttype: str = "application/json"
    workspace: str = Field(description="Workspace the event belongs to (extension attribute).")
    data: dict[str, Any]

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", exclude_none=True))

    @classmethod
    def from_json(cls, raw: bytes | str) -> CloudEvent:
        return cls.model_validate(orjson.loads(raw))


def new_event(
    *,
    event_type: str,
    source: str,
    workspace: str,
    data: dict[str, Any],
    subject: str | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
) -> CloudEvent:
    """Build an envelope; `event_type` is the NATS subject the event is published on."""
    return CloudEvent(
        id=event_id or uuid4().hex,
        source=source,
        type=event_type,
        time=time or datetime.now(UTC),
        subject=subject,
        workspace=workspace,
        data=data,
    )


class WireEvent(CloudEvent):
    """A CloudEvent whose `data` is already in its wire form (`Payload.wire()`'s output,
    or a dict built to equal it: text, integers, booleans, null, lists and dicts of them,
    text keys), made by `wire_event`: an import batch's thousand events each, made and
    encoded for a fraction of what validating them and walking them through pydantic's
    serializer costs. Everything else is a CloudEvent's (a copy keeps the class)."""

    def to_json(self) -> bytes:
        if self.__pydantic_extra__:
            return super().to_json()
        # The same bytes as `CloudEvent.to_json` (tested): the fields in their declared
        # order, a null `subject` left out, `time` as `wire_time` writes it.
        values = self.__dict__
        head: dict[str, Any] = {
            "specversion": values["specversion"],
            "id": values["id"],
            "source": values["source"],
            "type": values["type"],
            "time": wire_time(values["time"]),
        }
        if values["subject"] is not None:
            head["subject"] = values["subject"]
        head["datacontenttype"] = values["datacontenttype"]
        head["workspace"] = values["workspace"]
        head["data"] = values["data"]
        return orjson.dumps(head)


# The fields `new_event` gives (the others keep their defaults).
_GIVEN = ("id", "source", "type", "time", "subject", "workspace", "data")


def wire_event(
    *,
    event_type: str,
    source: str,
    workspace: str,
    data: dict[str, Any],
    subject: str | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
) -> CloudEvent:
    """`new_event` for `data` already in its wire form (see `WireEvent`), not validated:
    the caller builds `data` to equal a payload model's `wire()` (and tests that it does).
    The envelope holds what `new_event`'s would."""
    moment = time or datetime.now(UTC)
    values = {
        "specversion": "1.0",
        "id": event_id or uuid4().hex,
        "source": source,
        "type": event_type,
        "time": moment if moment.tzinfo is UTC else as_utc(moment),
        "subject": subject,
        "datacontenttype": "application/json",
        "workspace": workspace,
        "data": data,
    }
    return constructed(WireEvent, values, _GIVEN)


class DeadLetter(BaseModel):
    """An event a consumer gave up on (it did not parse, came from the wrong source, or its
    handler failed on every delivery), published on `dlq.<service>.<consumer>` with the
    reason; `event` is the envelope as received, or `raw` its text when it did not parse."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    consumer: str
    service: str
    reason: str
    subject: str = Field(description="The subject the event was delivered on.")
    deliveries: int
    failed_at: UtcDateTime = Field(alias="failedAt")
    event: dict[str, Any] | None = None
    raw: str | None = None

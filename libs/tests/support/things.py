"""`Thing`: an entity with a derived field, a unique field, a version and events, and its
codec, to exercise `crm_kit.records` on each backend the same way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_contracts.envelope import CloudEvent, new_event
from crm_kit.entity import Entity
from crm_kit.records import RecordType

THINGS = "things"


@dataclass(frozen=True)
class Renamed:
    """A domain event."""

    thing: Thing


@dataclass
class Thing(Entity):
    id: str
    workspace_id: str
    name: str
    tags: list[str] = field(default_factory=list)
    score: int | None = None
    at: datetime | None = None
    version: int = 1

    def rename(self, name: str) -> None:
        self.name = name
        self.raise_event(Renamed(self))


def to_doc(thing: Thing) -> dict[str, Any]:
    return {
        "_id": thing.id,
        "workspace_id": thing.workspace_id,
        "name": thing.name,
        "name_key": thing.name.lower(),  # derived at write time, unique per workspace
        "tags": list(thing.tags),
        "score": thing.score,
        "at": thing.at,
        "version": thing.version,
    }


def from_doc(doc: Mapping[str, Any]) -> Thing:
    return Thing(
        id=doc["_id"],
        workspace_id=doc["workspace_id"],
        name=doc["name"],
        tags=list(doc.get("tags") or []),
        score=doc.get("score"),
        at=doc.get("at"),
        version=int(doc.get("version") or 1),
    )


THING = RecordType(THINGS, to_doc, from_doc, unique=("name_key",), versioned=True)


def encode(event: object) -> CloudEvent:
    assert isinstance(event, Renamed)
    return new_event(
        event_type="crm.test.thing.renamed.v1",
        source="test",
        workspace=event.thing.workspace_id,
        subject=event.thing.id,
        data={"name": event.thing.name},
    )

"""Every event the deals domain raises. Each entity module defines the events of its
changes (they name the entity as it is when written: events are encoded in the same write,
`crm_kit.entity`); the outbound adapter (`crm_deals.events.publish`) turns them into the
public contract's CloudEvents."""

from __future__ import annotations

from .deal import (
    DealClosed,
    DealCreated,
    DealDeleted,
    DealReopened,
    DealStageChanged,
    DealUpdated,
)
from .handover import DealsHandedOver
from .pipeline import PipelineCreated, PipelineUpdated
from .trained_model import WinModelTrained

DomainEvent = (
    DealCreated
    | DealUpdated
    | DealDeleted
    | DealStageChanged
    | DealClosed
    | DealReopened
    | DealsHandedOver
    | PipelineCreated
    | PipelineUpdated
    | WinModelTrained
)

__all__ = [
    "DealClosed",
    "DealCreated",
    "DealDeleted",
    "DealReopened",
    "DealStageChanged",
    "DealUpdated",
    "DealsHandedOver",
    "DomainEvent",
    "PipelineCreated",
    "PipelineUpdated",
    "WinModelTrained",
]

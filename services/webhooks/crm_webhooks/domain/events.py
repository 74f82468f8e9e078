"""The domain events of the webhooks service, each defined beside its entity (encoded as
CloudEvents by events/publish)."""

from __future__ import annotations

from .delivery import DeliveryBecameDue
from .endpoint import EndpointWasDisabled

DomainEvent = EndpointWasDisabled | DeliveryBecameDue

__all__ = ["DeliveryBecameDue", "DomainEvent", "EndpointWasDisabled"]

"""The domain events of the import service (encoded as CloudEvents by events/publish)."""

from __future__ import annotations

from .job import JobChanged

DomainEvent = JobChanged

__all__ = ["DomainEvent", "JobChanged"]

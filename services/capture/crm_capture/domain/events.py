"""Every event the capture domain raises (the outbound adapter,
`crm_capture.events.publish`, turns them into the public contract's CloudEvents)."""

from __future__ import annotations

from .email import EmailCaptured
from .meeting import MeetingOccurrenceCancelled, MeetingOccurrenceCaptured
from .suggestion import SuggestionCreated
from .tracking import HotLeadDetected, VisitSessionRecorded

DomainEvent = (
    EmailCaptured
    | MeetingOccurrenceCaptured
    | MeetingOccurrenceCancelled
    | VisitSessionRecorded
    | HotLeadDetected
    | SuggestionCreated
)

__all__ = [
    "DomainEvent",
    "EmailCaptured",
    "HotLeadDetected",
    "MeetingOccurrenceCancelled",
    "MeetingOccurrenceCaptured",
    "SuggestionCreated",
    "VisitSessionRecorded",
]

"""What the lists of the domain can be narrowed by (the store answers them with one filter
each, `crm_capture.store.filters`)."""

from __future__ import annotations

from dataclasses import dataclass

from crm_kit.pagination import Cursor

from .email import EmailStatus
from .suggestion import SuggestionStatus


@dataclass
class SuggestionQuery:
    """Newest seen first."""

    first: int
    after: Cursor | None = None
    status: SuggestionStatus | None = SuggestionStatus.PENDING


@dataclass
class EmailQuery:
    """Newest captured first."""

    first: int
    after: Cursor | None = None
    status: EmailStatus | None = None

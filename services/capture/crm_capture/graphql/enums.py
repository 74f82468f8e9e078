"""The domain's enums as GraphQL enums (registered once; fields are typed with the domain
enums themselves)."""

from __future__ import annotations

import strawberry

from ..domain.email import Direction, EmailStatus
from ..domain.imap_account import Security
from ..domain.suggestion import SuggestionSource, SuggestionStatus

strawberry.enum(EmailStatus, name="CaptureStatus")
strawberry.enum(Direction, name="MailDirection")
strawberry.enum(SuggestionStatus, name="SuggestionStatus")
strawberry.enum(SuggestionSource, name="SuggestionSource")
strawberry.enum(Security, name="MailboxSecurity")

__all__ = ["Direction", "EmailStatus", "Security", "SuggestionSource", "SuggestionStatus"]

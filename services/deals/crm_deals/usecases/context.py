"""What a use case needs besides the store: who acts, the clock, the outbox wake-up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from crm_kit.context import RequestContext
from crm_kit.errors import Forbidden


def utc_now() -> datetime:
    # Millisecond precision: what MongoDB stores, so values read back compare equal.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass
class Actor:
    request: RequestContext
    clock: Callable[[], datetime] = utc_now
    # After a write: `notify(collection, doc_id)` publishes that document's outbox at once.
    notify: Callable[[str, str], None] = field(default=lambda collection, doc_id: None)

    @property
    def subject(self) -> str:
        return self.request.subject

    def require_write(self) -> None:
        if not self.request.can_write:
            raise Forbidden("this role may only read")

    def require_manager(self) -> None:
        if not self.request.has_role("admin", "manager"):
            raise Forbidden("only managers and admins change pipelines")

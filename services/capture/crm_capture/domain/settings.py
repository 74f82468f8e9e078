"""A workspace's capture settings: its capture address, which domains are its own, what
is never captured, how much of a body is kept, and whose capture is paused."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from crm_kit.clock import utcnow
from crm_kit.entity import Entity

DEFAULT_BODY_LIMIT = 2000


@dataclass(frozen=True)
class RepAddress:
    """An address of one of the workspace's users (a rep): mail from it is theirs."""

    email: str
    user_id: str


@dataclass
class CaptureSettings(Entity):
    workspace_id: str  # also the record's id: one per workspace
    inbound_key: str  # mail to <inbound_key>@<capture domain> is captured for the workspace
    # The workspace's own domains: their addresses are reps, never contacts.
    internal_domains: list[str] = field(default_factory=list)
    # Never captured: mail with only these external parties is dropped, and these parties
    # are left out of anything else captured.
    excluded_domains: list[str] = field(default_factory=list)
    excluded_addresses: list[str] = field(default_factory=list)
    # Characters of a body kept (the summary on the timeline); 0 keeps none.
    body_limit: int = DEFAULT_BODY_LIMIT
    paused_users: list[str] = field(default_factory=list)
    reps: list[RepAddress] = field(default_factory=list)
    updated_at: datetime = field(default_factory=utcnow)
    updated_by: str | None = None
    version: int = 1

    @property
    def id(self) -> str:
        return self.workspace_id

    def rep_of(self, email: str) -> str | None:
        """The user an address belongs to, when one registered it."""
        return next((rep.user_id for rep in self.reps if rep.email == email), None)

    def is_internal(self, email: str) -> bool:
        return email.rsplit("@", 1)[-1] in self.internal_domains or self.rep_of(email) is not None

    def excludes(self, email: str) -> bool:
        domain = email.rsplit("@", 1)[-1]
        return email in self.excluded_addresses or any(
            domain == d or domain.endswith(f".{d}") for d in self.excluded_domains
        )

    def paused(self, user_id: str | None) -> bool:
        return user_id is not None and user_id in self.paused_users

    def addresses_of(self, user_id: str) -> list[str]:
        return [rep.email for rep in self.reps if rep.user_id == user_id]

    def set_user_addresses(self, user_id: str, emails: list[str]) -> None:
        """A user's own addresses (an address belongs to one user: theirs now)."""
        kept = [rep for rep in self.reps if rep.user_id != user_id and rep.email not in emails]
        self.reps = kept + [RepAddress(email, user_id) for email in emails]

    def set_paused(self, user_id: str, paused: bool) -> None:
        others = [u for u in self.paused_users if u != user_id]
        self.paused_users = [*others, user_id] if paused else others

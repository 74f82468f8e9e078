"""A mailbox a user connected: polled over IMAP, every new message in its folder captured
once, resumed after a restart where the last poll stopped (the folder's UIDVALIDITY and
the last UID captured)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from crm_kit.clock import utcnow
from crm_kit.entity import Entity


class Security(StrEnum):
    SSL = "ssl"  # IMAPS (993)
    STARTTLS = "starttls"
    NONE = "none"  # only to a server on this host (tests, a local relay)


@dataclass
class ImapAccount(Entity):
    id: str
    workspace_id: str
    user_id: str  # whose mailbox: mail in it is captured as theirs
    host: str
    port: int
    security: Security
    username: str
    secret: str  # the password, encrypted (store/secrets.py); never returned
    folder: str = "INBOX"
    enabled: bool = True
    uid_validity: int | None = None
    last_uid: int = 0
    captured: int = 0  # messages taken past (captured, or skipped as unreadable)
    fetched: int = 0  # messages fetched from the server, ever (a restart fetches no more)
    last_polled_at: datetime | None = None
    last_error: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    version: int = 1

    def start_folder(self, uid_validity: int) -> bool:
        """A folder whose UIDVALIDITY changed was rebuilt by the server: its UIDs mean
        something else now, so it is read from the start again (capture is idempotent by
        Message-ID, so nothing is captured twice). False when the folder is the one read
        so far (nothing to write)."""
        if self.uid_validity == uid_validity:
            return False
        self.uid_validity, self.last_uid = uid_validity, 0
        return True

    def advanced(self, uid: int) -> bool:
        if uid <= self.last_uid:
            return False
        self.last_uid = uid
        self.captured += 1
        return True

    def polled(self, at: datetime, error: str | None, fetched: int) -> None:
        self.last_polled_at, self.last_error = at, error
        self.fetched += fetched

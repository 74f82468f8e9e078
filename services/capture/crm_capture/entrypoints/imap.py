"""The IMAP poller: every `CAPTURE_IMAP_POLL_SECONDS` each enabled mailbox is polled by one
replica (a lease per mailbox and period), its folder read from the UID after the last one
captured, each new message captured as its owner's and the checkpoint moved past it. A
restart resumes where the last poll stopped; a folder whose UIDVALIDITY changed is read
again from the start (capture is idempotent by Message-ID). Messages are fetched with
BODY.PEEK, so polling marks nothing read. `imaplib` is blocking: it runs in a thread, with
a timeout on every socket operation."""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import re
import time
from dataclasses import dataclass

from crm_kit.errors import BadUserInput
from crm_kit.metrics import count_inbound
from crm_kit.periodic import every

from ..config import SERVICE, CaptureConfig
from ..domain.imap_account import ImapAccount, Security
from ..domain.matching import DirectoryUnavailable
from ..domain.rules import email_or_none
from ..usecases import emails, mailboxes
from ..usecases.routing import Routes
from ..usecases.scope import Scope

log = logging.getLogger(__name__)
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")


class MailboxError(Exception):
    pass


@dataclass
class Folder:
    uid_validity: int
    uids: list[int]  # new ones, ascending


class ImapSession:
    """One connection to one mailbox (blocking calls: run them in a thread)."""

    def __init__(self, account: ImapAccount, password: str, timeout: float) -> None:
        self.account, self.password, self.timeout = account, password, timeout
        self.client: imaplib.IMAP4 | None = None

    def open(self, after_uid: int) -> Folder:
        a = self.account
        if a.security == Security.SSL:
            self.client = imaplib.IMAP4_SSL(a.host, a.port, timeout=self.timeout)
        else:
            self.client = imaplib.IMAP4(a.host, a.port, timeout=self.timeout)
            if a.security == Security.STARTTLS:
                self.client.starttls()
        self.client.login(a.username, self.password)
        status, _ = self.client.select(_quoted(a.folder), readonly=True)
        if status != "OK":
            raise MailboxError(f"no folder {a.folder!r}")
        validities = self.client.untagged_responses.get("UIDVALIDITY") or [b"0"]
        validity = validities[-1]
        if not isinstance(validity, bytes):
            raise MailboxError("the server named no UIDVALIDITY")
        status, data = self.client.uid("SEARCH", f"UID {after_uid + 1}:*")
        if status != "OK":
            raise MailboxError("UID SEARCH failed")
        first = data[0] if data else b""
        found = first if isinstance(first, bytes) else b""
        uids = sorted(int(u) for u in found.split())
        # "n:*" always includes the last message, even when it is older than n.
        return Folder(int(validity), [u for u in uids if u > after_uid])

    def fetch(self, uid: int) -> bytes | None:
        assert self.client is not None
        status, data = self.client.uid("FETCH", str(uid), "(BODY.PEEK[])")
        if status != "OK":
            raise MailboxError(f"FETCH {uid} failed")
        for part in data:
            if isinstance(part, tuple) and len(part) == 2:
                return bytes(part[1])
        return None  # deleted meanwhile

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                self.client.logout()
            self.client = None


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapPoller:
    def __init__(self, routes: Routes, config: CaptureConfig) -> None:
        self.routes = routes
        self.config = config

    async def run(self) -> None:
        await every(self.config.imap_poll_seconds, self.poll_all, "imap poll")

    async def poll_all(self) -> None:
        period = int(time.time() // max(self.config.imap_poll_seconds, 0.001))
        accounts = await self.routes.mailboxes()
        await asyncio.gather(*(self.poll(account, period) for account in accounts))

    async def poll(self, account: ImapAccount, period: int) -> int:
        """Capture what is new in one mailbox; returns how many messages were fetched."""
        scope = self.routes.service_scope(account.workspace_id)
        if not await mailboxes.claim_poll(scope, account.id, period):
            return 0  # another replica polls it this period
        fetched, error = 0, None
        try:
            password = await mailboxes.password_of(scope, account)
            session = ImapSession(account, password, self.config.imap_timeout_seconds)
            try:
                fetched = await self._read(scope, account, session)
            finally:
                await asyncio.to_thread(session.close)
        except DirectoryUnavailable:
            error = "the contacts service did not answer; the next poll resumes here"
        except (imaplib.IMAP4.error, MailboxError, OSError) as failure:
            error = f"{type(failure).__name__}: {failure}"
        except Exception as failure:
            log.exception("polling mailbox %s failed", account.id)
            error = f"internal error: {type(failure).__name__}"
        await mailboxes.polled(scope, account.id, error, fetched)
        count_inbound(SERVICE, "imap", "accepted" if error is None else "failed")
        return fetched

    async def _read(self, scope: Scope, account: ImapAccount, session: ImapSession) -> int:
        folder = await asyncio.to_thread(session.open, account.last_uid)
        current = await mailboxes.start_folder(scope, account.id, folder.uid_validity)
        after = current.last_uid if current else account.last_uid
        if after < account.last_uid:  # the folder was rebuilt: read from the start
            await asyncio.to_thread(session.close)
            folder = await asyncio.to_thread(session.open, after)
        internal = [a for a in [email_or_none(account.username)] if a]
        fetched = 0
        for uid in [u for u in folder.uids if u > after][: self.config.imap_batch]:
            raw = await asyncio.to_thread(session.fetch, uid)
            fetched += 1
            try:
                if raw is not None:
                    await emails.capture_email(
                        scope, raw, "imap", internal=internal, mailbox_user=account.user_id
                    )
            except BadUserInput as unreadable:
                # Not a message: skipped for good (it would stop every later poll here).
                log.warning("mailbox %s UID %s skipped: %s", account.id, uid, unreadable.message)
            await mailboxes.advanced(scope, account.id, uid)
        return fetched

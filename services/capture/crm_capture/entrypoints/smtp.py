"""Inbound SMTP (RFC 5321, `aiosmtpd`): the second public door of the platform.

Reps BCC or forward mail to their workspace's capture address,
`<workspace key>@<CAPTURE_DOMAIN>`. The server is no relay: it accepts a recipient only
when it is a workspace's current capture address (rotating the address retires the old
one) and only from a sender the workspace knows as its own (an address of one of its
internal domains, or one a user registered), so someone who learns the address still
cannot put mail from elsewhere on the timeline by connecting here; what it cannot check
is a forged envelope sender (no SPF/DKIM here: put the capture domain's MX behind a mail
system that checks them, or keep the port on a private network). Each message is captured
before the server answers 250, so an accepted message is never lost; when the contacts
service or the database does not answer the server says 451 (at RCPT or after DATA) and
the sending server tries again later. Counted in `crm_inbound_total{door="smtp"}`.
Bounded: message size (`CAPTURE_SMTP_MAX_BYTES`, announced in EHLO), connections
(`CAPTURE_SMTP_MAX_CONNECTIONS`, beyond which 421), idle time per connection, 100
recipients per message. STARTTLS when a certificate is configured (then required).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from crm_kit.errors import BadUserInput
from crm_kit.metrics import count_inbound

from ..config import SERVICE, CaptureConfig
from ..domain.matching import DirectoryUnavailable
from ..domain.rules import email_or_none
from ..usecases import emails
from ..usecases.routing import Routes
from ..usecases.settings import settings_of

log = logging.getLogger(__name__)
TRY_LATER = "451 4.3.0 the CRM cannot take mail now; try again later"
# aiosmtpd logs every connection at INFO.
logging.getLogger("mail.log").setLevel(logging.WARNING)

MAX_RECIPIENTS = 100
_WORKSPACES = "crm_workspaces"


class CaptureHandler:
    """The server's hooks (aiosmtpd calls `handle_<VERB>`)."""

    def __init__(self, routes: Routes, config: CaptureConfig) -> None:
        self.routes = routes
        self.config = config

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        try:
            reply = await self._recipient(envelope, address)
        except Exception:
            # A lookup failed (the database): a temporary answer, never aiosmtpd's 500,
            # which would bounce the message for good.
            log.exception("checking a recipient failed")
            reply = TRY_LATER
        if not reply.startswith("250"):
            count_inbound(SERVICE, "smtp", "failed" if reply.startswith("4") else "refused")
        return reply

    async def _recipient(self, envelope: Envelope, address: str) -> str:
        recipient = email_or_none(address)
        if recipient is None:
            return "501 5.1.3 bad recipient address syntax"
        local, _, domain = recipient.partition("@")
        if domain != self.config.domain:
            return "550 5.7.1 relaying denied: not a capture address"
        workspaces: dict[str, str] = getattr(envelope, _WORKSPACES, {})
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 too many recipients"
        workspace = await self.routes.workspace_of_address(local)
        if workspace is None:
            return "550 5.1.1 no such capture address"
        sender = email_or_none(envelope.mail_from)
        settings = await settings_of(self.routes.service_scope(workspace))
        if sender is None or not settings.is_internal(sender):
            return "550 5.7.1 the sender is not an address of this workspace"
        workspaces[recipient] = workspace
        setattr(envelope, _WORKSPACES, workspaces)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        sender = email_or_none(envelope.mail_from) or ""
        workspaces = set(getattr(envelope, _WORKSPACES, {}).values())
        try:
            for workspace in sorted(workspaces):
                scope = self.routes.service_scope(workspace)
                await emails.capture_email(scope, raw, "smtp", internal=[sender])
        except BadUserInput as error:
            count_inbound(SERVICE, "smtp", "refused")
            return f"550 5.6.0 the message cannot be read: {error.message}"[:200]
        except DirectoryUnavailable:
            count_inbound(SERVICE, "smtp", "failed")
            return "451 4.4.0 the CRM is busy; try again later"
        except Exception:
            log.exception("capturing a message failed")
            count_inbound(SERVICE, "smtp", "failed")
            return "451 4.3.0 the message could not be captured; try again later"
        count_inbound(SERVICE, "smtp", "accepted")
        return "250 2.0.0 captured"


class _Limited(SMTP):
    """An SMTP connection that refuses itself (421) beyond the server's connection cap."""

    def __init__(self, handler: CaptureHandler, counter: dict[str, int], limit: int, **kw: Any):
        super().__init__(handler, **kw)
        self._counter, self._limit, self._refused = counter, limit, False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._counter["active"] >= self._limit:
            self._refused = True
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(b"421 4.7.0 too many connections; try again later\r\n")
            transport.close()
            return
        self._counter["active"] += 1
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        self._counter["active"] -= 1
        super().connection_lost(error)


def _tls(config: CaptureConfig) -> ssl.SSLContext | None:
    if not (config.smtp_tls_cert and config.smtp_tls_key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.smtp_tls_cert, config.smtp_tls_key)
    return context


async def start_smtp(routes: Routes, config: CaptureConfig) -> asyncio.Server:
    handler = CaptureHandler(routes, config)
    counter = {"active": 0}
    tls = _tls(config)
    loop = asyncio.get_running_loop()

    def connection() -> _Limited:
        return _Limited(
            handler,
            counter,
            config.smtp_max_connections,
            data_size_limit=config.smtp_max_bytes,
            enable_SMTPUTF8=True,
            hostname=config.domain,
            timeout=config.smtp_idle_seconds,
            tls_context=tls,
            require_starttls=tls is not None,
            loop=loop,
        )

    server = await loop.create_server(connection, config.smtp_host, config.smtp_port)
    log.info("SMTP capture listening", extra={"fields": {"port": config.smtp_port}})
    return server

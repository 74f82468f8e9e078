"""Service constants, collection names and the capture settings read from the
environment (besides the kit's `Settings`)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from crm_kit.audit import Audited, AuditPolicy
from crm_kit.settings import Settings

SERVICE = "capture"
SOURCE = "crm/capture"
VERSION = "1.0.0"

SETTINGS = "capture_settings"  # one per workspace, `_id` = workspace id
INBOUND_KEYS = "inbound_keys"  # `_id` = the local part of a workspace's capture address
EMAILS = "emails"
MEETINGS = "meetings"
SUGGESTIONS = "suggestions"
IMAP_ACCOUNTS = "imap_accounts"
SITES = "sites"  # `_id` = the public site key
VISITORS = "visitors"
SESSIONS = "sessions"
LEASES = "leases"  # one poll of one mailbox at a time across replicas
# Collections whose documents carry an outbox (the settings, mailboxes and sites: for their
# audit entries, which the relay moves).
OUTBOX_COLLECTIONS = (
    EMAILS,
    MEETINGS,
    SUGGESTIONS,
    SESSIONS,
    VISITORS,
    SETTINGS,
    IMAP_ACCOUNTS,
    SITES,
)
# The admin-facing records whose changes the audit log keeps (crm_kit.audit): the capture
# settings, the mailboxes and the tracked sites. Left out of the diffs: stamps, versions,
# what each poll updates, and the mailbox's (encrypted) password, which no log should hold.
AUDIT = AuditPolicy(
    SERVICE,
    {
        SETTINGS: Audited("capture_settings", frozenset({"updated_at", "updated_by", "version"})),
        IMAP_ACCOUNTS: Audited(
            "mailbox",
            frozenset(
                {
                    "secret",
                    "uid_validity",
                    "last_uid",
                    "captured",
                    "fetched",
                    "last_polled_at",
                    "last_error",
                    "created_at",
                    "version",
                }
            ),
            deleted_field=None,
        ),
        SITES: Audited("site", frozenset({"created_at", "created_by", "version"}), None),
    },
)
# The durable consumer of contacts' events (a contact created resolves suggestions).
DURABLE_CONTACTS = "capture-contacts"


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class CaptureConfig:
    """What the capture service's own doors and jobs are set to (`CAPTURE_*`)."""

    # Inbound SMTP: the second public door (0 turns it off).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    # Mail to <workspace key>@<domain> is captured; nothing else is accepted.
    domain: str = "capture.localhost"
    smtp_max_bytes: int = 10_000_000
    smtp_max_connections: int = 50
    smtp_idle_seconds: int = 60
    # STARTTLS, offered when both are set (PEM files); required then for every message.
    smtp_tls_cert: str | None = None
    smtp_tls_key: str | None = None
    # IMAP polling of the mailboxes users connect.
    imap_poll_seconds: float = 60.0
    imap_batch: int = 200
    imap_timeout_seconds: float = 20.0
    # Tracking: page views per minute from one address to one site, and per second to one
    # site (in-process buckets: each replica counts its own).
    track_per_ip_per_minute: int = 120
    track_per_site_per_second: int = 500
    # Web sessions and visitors not seen for this long are deleted (13 months).
    visit_retention_days: int = 395
    # Recurring meetings are expanded this far around the invitation's date.
    meeting_past_days: int = 30
    meeting_future_days: int = 90
    # Requests to the contacts and deals services.
    rpc_timeout_seconds: float = 2.0
    # Where browsers reach the gateway (the tracking snippet's tag names it).
    public_url: str = "http://127.0.0.1:4000"

    @classmethod
    def from_env(cls) -> CaptureConfig:
        d = cls()
        return cls(
            smtp_host=_env("CAPTURE_SMTP_HOST", _env("CRM_HOST", d.smtp_host)),
            smtp_port=int(_env("CAPTURE_SMTP_PORT", str(d.smtp_port))),
            domain=_env("CAPTURE_DOMAIN", d.domain).lower(),
            smtp_max_bytes=int(_env("CAPTURE_SMTP_MAX_BYTES", str(d.smtp_max_bytes))),
            smtp_max_connections=int(
                _env("CAPTURE_SMTP_MAX_CONNECTIONS", str(d.smtp_max_connections))
            ),
            smtp_idle_seconds=int(_env("CAPTURE_SMTP_IDLE_SECONDS", str(d.smtp_idle_seconds))),
            smtp_tls_cert=os.environ.get("CAPTURE_SMTP_TLS_CERT") or None,
            smtp_tls_key=os.environ.get("CAPTURE_SMTP_TLS_KEY") or None,
            imap_poll_seconds=float(_env("CAPTURE_IMAP_POLL_SECONDS", str(d.imap_poll_seconds))),
            imap_batch=int(_env("CAPTURE_IMAP_BATCH", str(d.imap_batch))),
            imap_timeout_seconds=float(
                _env("CAPTURE_IMAP_TIMEOUT_SECONDS", str(d.imap_timeout_seconds))
            ),
            track_per_ip_per_minute=int(
                _env("CAPTURE_TRACK_PER_IP_PER_MINUTE", str(d.track_per_ip_per_minute))
            ),
            track_per_site_per_second=int(
                _env("CAPTURE_TRACK_PER_SITE_PER_SECOND", str(d.track_per_site_per_second))
            ),
            visit_retention_days=int(
                _env("CAPTURE_VISIT_RETENTION_DAYS", str(d.visit_retention_days))
            ),
            meeting_past_days=int(_env("CAPTURE_MEETING_PAST_DAYS", str(d.meeting_past_days))),
            meeting_future_days=int(
                _env("CAPTURE_MEETING_FUTURE_DAYS", str(d.meeting_future_days))
            ),
            rpc_timeout_seconds=float(
                _env("CAPTURE_RPC_TIMEOUT_SECONDS", str(d.rpc_timeout_seconds))
            ),
            public_url=_env("CAPTURE_PUBLIC_URL", d.public_url),
        )


def load_settings() -> Settings:
    return Settings.from_env(SERVICE)

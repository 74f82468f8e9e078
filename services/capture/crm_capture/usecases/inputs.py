"""What clients give the use cases, typed. An optional field left `UNSET` is "not given"
(an update keeps the stored value)."""

from __future__ import annotations

from dataclasses import dataclass

from crm_kit.unset import UNSET, Unset

from ..domain.imap_account import Security


@dataclass(frozen=True)
class SettingsInput:
    internal_domains: list[str] | Unset = UNSET
    excluded_domains: list[str] | Unset = UNSET
    excluded_addresses: list[str] | Unset = UNSET
    body_limit: int | Unset = UNSET


@dataclass(frozen=True)
class MyCaptureInput:
    addresses: list[str] | Unset = UNSET
    paused: bool | Unset = UNSET


@dataclass(frozen=True)
class ImapAccountInput:
    host: str
    username: str
    password: str
    port: int | None = None  # default: 993 for SSL, 143 otherwise
    security: Security = Security.SSL
    folder: str = "INBOX"


@dataclass(frozen=True)
class SiteInput:
    name: str | Unset = UNSET
    domains: list[str] | Unset = UNSET
    require_consent: bool | Unset = UNSET
    hot_paths: list[str] | Unset = UNSET
    hot_threshold: int | Unset = UNSET
    hot_window_days: int | Unset = UNSET
    enabled: bool | Unset = UNSET


@dataclass(frozen=True)
class AcceptInput:
    first_name: str | None = None
    last_name: str | None = None


@dataclass(frozen=True)
class Hit:
    """One report of the tracking snippet."""

    kind: str  # view | leave | identify
    visitor: str  # the first-party cookie's random id
    url: str
    title: str | None = None
    referrer: str | None = None
    seconds: int | None = None  # leave: time the page was visible
    email: str | None = None  # identify: what a form on the page posted
    consent: bool = False  # the page says the visitor agreed to tracking
    webdriver: bool = False  # the browser is automated


@dataclass(frozen=True)
class Browser:
    """What the gateway saw of the browser that sent a hit."""

    ip: str
    user_agent: str | None = None
    do_not_track: bool = False  # DNT: 1 or Sec-GPC: 1
    origin: str | None = None

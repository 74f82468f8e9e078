"""Web visits: the sites a workspace tracks (by a public site key, never the workspace
id), their anonymous visitors (a first-party cookie's random id), sessions of page views,
identification by a form's email, and the hot-lead signal (hot pages, such as pricing,
viewed often enough within a window)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from crm_kit.clock import utcnow
from crm_kit.entity import Entity

from .ids import derived_id

SESSION_GAP = timedelta(minutes=30)  # a visit's pages are at most this far apart
MAX_PAGES = 50  # page views kept per session (all are counted)
MAX_SESSIONS = 50  # sessions remembered per visitor (attached when identified)
MAX_HOT_VIEWS = 50
VISITOR_TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")

# Crawlers, monitors, previews and headless browsers: what no prospect uses.
_BOTS = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|mediapartners|facebookexternalhit|embedly|quora link|"
    r"preview|headless|phantomjs|puppeteer|playwright|selenium|lighthouse|pagespeed|"
    r"pingdom|uptime|monitor|curl/|wget/|python-requests|python-httpx|httpx/|aiohttp|"
    r"go-http-client|java/|okhttp|libwww|scrapy|feedfetcher|yandex|baidu|bingpreview",
    re.IGNORECASE,
)


def is_bot(user_agent: str | None, webdriver: bool = False) -> bool:
    """A crawler or automated browser (an empty user agent counts as one)."""
    return webdriver or not user_agent or bool(_BOTS.search(user_agent))


@dataclass(frozen=True)
class Utm:
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    term: str | None = None
    content: str | None = None

    @classmethod
    def of(cls, url: str) -> Utm | None:
        query = parse_qs(urlsplit(url).query)

        def tag(name: str) -> str | None:
            values = query.get(f"utm_{name}")
            return values[0][:200] if values and values[0] else None

        found = cls(tag("source"), tag("medium"), tag("campaign"), tag("term"), tag("content"))
        return found if any(vars(found).values()) else None


@dataclass(frozen=True)
class PageView:
    url: str
    path: str
    at: datetime
    title: str | None = None
    referrer: str | None = None
    utm: Utm | None = None
    duration_seconds: int | None = None


@dataclass
class Site(Entity):
    id: str  # the public site key the snippet carries
    workspace_id: str
    name: str
    # Hosts the snippet may report from (empty: any); a page elsewhere is ignored.
    domains: list[str] = field(default_factory=list)
    require_consent: bool = False  # track only after the page says the visitor agreed
    hot_paths: list[str] = field(default_factory=lambda: ["/pricing"])
    hot_threshold: int = 2  # hot-page views within the window that make a hot lead
    hot_window_days: int = 7
    enabled: bool = True
    created_at: datetime = field(default_factory=utcnow)
    created_by: str | None = None
    version: int = 1

    def allows_host(self, host: str | None) -> bool:
        if not self.domains:
            return True
        if not host:
            return False
        host = host.lower().removeprefix("www.")
        return any(host == d or host.endswith(f".{d}") for d in self.domains)

    def is_hot(self, path: str) -> bool:
        lowered = path.lower()
        return any(lowered == p or lowered.startswith(p.rstrip("/") + "/") for p in self.hot_paths)


def visitor_record_id(site_id: str, token: str) -> str:
    return derived_id("visitor", site_id, token)


@dataclass
class Visitor(Entity):
    id: str  # visitor_record_id(site, cookie token)
    workspace_id: str
    site_id: str
    first_seen_at: datetime
    last_seen_at: datetime
    contact_id: str | None = None
    company_id: str | None = None
    email: str | None = None  # the address a form gave (a contact, or a suggestion)
    identified_at: datetime | None = None
    session_ids: list[str] = field(default_factory=list)  # newest last
    session_count: int = 0
    hot_views: list[datetime] = field(default_factory=list)
    hot_paths_seen: list[str] = field(default_factory=list)
    hot_signalled_at: datetime | None = None
    version: int = 1

    @property
    def current_session_id(self) -> str | None:
        return self.session_ids[-1] if self.session_ids else None

    def session_for(self, at: datetime) -> tuple[str, bool]:
        """The session a page view at `at` belongs to, and whether it is a new one."""
        if self.current_session_id and at - self.last_seen_at <= SESSION_GAP:
            return self.current_session_id, False
        self.session_count += 1
        session_id = derived_id("session", self.id, str(self.session_count))
        self.session_ids = [*self.session_ids, session_id][-MAX_SESSIONS:]
        return session_id, True

    def seen(self, at: datetime) -> None:
        self.last_seen_at = max(self.last_seen_at, at)

    def identify(
        self, email: str, contact_id: str | None, company_id: str | None, at: datetime
    ) -> bool:
        """The visitor gave `email` (a contact's, or one still to be accepted)."""
        if (self.email, self.contact_id) == (email, contact_id):
            return False
        self.email = email
        self.contact_id = contact_id or self.contact_id
        self.company_id = company_id or self.company_id
        self.identified_at = self.identified_at or at
        return True

    def hot_view(self, site: Site, path: str, at: datetime) -> bool:
        """A view of a hot page; raises HotLeadDetected (once per window) when an
        identified visitor reaches the site's threshold. True when it did."""
        self.hot_views = sorted([*self.hot_views, at])[-MAX_HOT_VIEWS:]
        self.hot_paths_seen = list(dict.fromkeys([*self.hot_paths_seen, path]))[-10:]
        return self.check_hot(site, at)

    def check_hot(self, site: Site, at: datetime) -> bool:
        window = timedelta(days=site.hot_window_days)
        recent = [moment for moment in self.hot_views if at - moment <= window]
        fired_lately = self.hot_signalled_at is not None and at - self.hot_signalled_at <= window
        if self.contact_id is None or fired_lately or len(recent) < site.hot_threshold:
            return False
        self.hot_signalled_at = at
        self.raise_event(HotLeadDetected(self, site, recent))
        return True


@dataclass
class VisitSession(Entity):
    id: str
    workspace_id: str
    site_id: str
    visitor_id: str
    started_at: datetime
    last_at: datetime
    pages: list[PageView] = field(default_factory=list)
    page_count: int = 0
    contact_id: str | None = None
    company_id: str | None = None
    revision: int = 0
    version: int = 1

    @property
    def interaction_id(self) -> str:
        return self.id

    @property
    def duration_seconds(self) -> int:
        last = self.pages[-1].duration_seconds if self.pages else None
        return int((self.last_at - self.started_at).total_seconds()) + (last or 0)

    def viewed(self, page: PageView) -> None:
        self.page_count += 1
        if len(self.pages) < MAX_PAGES:
            self.pages = [*self.pages, page]
        self.last_at = max(self.last_at, page.at)
        self._recorded()

    def left(self, url: str, seconds: int) -> bool:
        """How long the visitor stayed on `url` (the last view of it)."""
        for index in range(len(self.pages) - 1, -1, -1):
            if self.pages[index].url == url:
                if self.pages[index].duration_seconds == seconds:
                    return False
                pages = list(self.pages)
                pages[index] = replace(pages[index], duration_seconds=seconds)
                self.pages = pages
                self._recorded()
                return True
        return False

    def attach(self, contact_id: str, company_id: str | None) -> bool:
        """The visitor turned out to be this contact: the session joins its timeline."""
        if self.contact_id == contact_id:
            return False
        self.contact_id, self.company_id = contact_id, company_id
        self._recorded()
        return True

    def _recorded(self) -> None:
        if self.contact_id is not None:
            self.revision += 1
            self.raise_event(VisitSessionRecorded(self))


@dataclass(frozen=True)
class VisitSessionRecorded:
    session: VisitSession


@dataclass(frozen=True)
class HotLeadDetected:
    visitor: Visitor
    site: Site
    views: list[datetime]

"""Web visits reported by the tracking snippet: page views rolled up into sessions per
visitor, the time spent on a page, identification by a form's email (earlier anonymous
sessions then join the contact's timeline), and the hot-lead signal.

Nothing is recorded for a browser that asks not to be tracked (Do-Not-Track, Global
Privacy Control), for a site that requires consent when the page has not given it, for
bots, for a page on a host the site does not list, or for a disabled site: such hits are
dropped with their reason (the snippet gets the same empty answer either way)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from crm_kit.errors import BadUserInput

from ..domain import rules
from ..domain.addresses import participant
from ..domain.suggestion import SuggestionSource
from ..domain.tracking import (
    VISITOR_TOKEN,
    PageView,
    Site,
    Utm,
    Visitor,
    VisitSession,
    is_bot,
    visitor_record_id,
)
from ..store.port import Change, DirectoryUnavailable
from .inputs import Browser, Hit
from .matching import suggest
from .scope import Scope
from .settings import settings_of

KINDS = ("view", "leave", "identify")
MAX_URL = 2000


@dataclass
class HitOutcome:
    recorded: bool
    reason: str | None = None  # why it was dropped
    session_id: str | None = None


def dropped_reason(site: Site, hit: Hit, browser: Browser) -> str | None:
    if not site.enabled:
        return "site disabled"
    if browser.do_not_track:
        return "do not track"
    if site.require_consent and not hit.consent:
        return "no consent"
    if is_bot(browser.user_agent, hit.webdriver):
        return "bot"
    if not site.allows_host(urlsplit(hit.url).hostname):
        return "host not tracked"
    return None


def _validate(hit: Hit) -> None:
    if hit.kind not in KINDS:
        raise BadUserInput(f"type must be one of {', '.join(KINDS)}", field="t")
    if not VISITOR_TOKEN.match(hit.visitor):
        raise BadUserInput("not a visitor id", field="v")
    parts = urlsplit(hit.url)
    if len(hit.url) > MAX_URL or parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadUserInput("not a page URL", field="u")
    if hit.seconds is not None and not 0 <= hit.seconds <= 86_400:
        raise BadUserInput("must be between 0 and 86400", field="d")


async def record(scope: Scope, site: Site, hit: Hit, browser: Browser) -> HitOutcome:
    _validate(hit)
    reason = dropped_reason(site, hit, browser)
    if reason is not None:
        return HitOutcome(False, reason)
    at = scope.now()
    visitor_id = visitor_record_id(site.id, hit.visitor)
    fresh = Visitor(
        id=visitor_id,
        workspace_id=scope.workspace_id,
        site_id=site.id,
        first_seen_at=at,
        last_seen_at=at,
    )
    if hit.kind == "view":
        return await _view(scope, site, hit, fresh)
    if hit.kind == "leave":
        return await _leave(scope, hit, visitor_id)
    return await _identify(scope, site, hit, fresh)


async def _visitor(scope: Scope, fresh: Visitor, change: Change[Visitor]) -> Visitor:
    """Change the visitor, made on its first hit (`fresh`)."""
    for _ in range(2):
        changed = await scope.store.change_visitor(fresh.id, change)
        if changed is not None:
            return changed
        await change(fresh)
        if await scope.store.add_visitor(fresh):
            return fresh
    raise RuntimeError(f"visitor {fresh.id} neither found nor added")  # never: added or found


async def _view(scope: Scope, site: Site, hit: Hit, fresh: Visitor) -> HitOutcome:
    at = scope.now()
    parts = urlsplit(hit.url)
    page = PageView(
        url=hit.url,
        path=parts.path or "/",
        at=at,
        title=rules.clip(hit.title, 300),
        referrer=rules.clip(hit.referrer, MAX_URL),
        utm=Utm.of(hit.url),
    )
    placed: dict[str, object] = {}

    async def visit(visitor: Visitor) -> bool:
        session_id, new = visitor.session_for(at)
        placed.update(session=session_id, new=new)
        visitor.seen(at)
        if site.is_hot(page.path):
            visitor.hot_view(site, page.path, at)
        return True

    visitor = await _visitor(scope, fresh, visit)
    session_id = str(placed["session"])

    async def viewed(session: VisitSession) -> bool:
        session.viewed(page)
        return True

    if placed["new"]:
        session = VisitSession(
            id=session_id,
            workspace_id=scope.workspace_id,
            site_id=site.id,
            visitor_id=visitor.id,
            started_at=at,
            last_at=at,
            contact_id=visitor.contact_id,
            company_id=visitor.company_id,
        )
        session.viewed(page)
        if await scope.store.add_session(session):
            return HitOutcome(True, session_id=session_id)
    await scope.store.change_session(session_id, viewed)
    return HitOutcome(True, session_id=session_id)


async def _leave(scope: Scope, hit: Hit, visitor_id: str) -> HitOutcome:
    visitor = await scope.store.get_visitor(visitor_id)
    if visitor is None or visitor.current_session_id is None or hit.seconds is None:
        return HitOutcome(False, "no page to leave")
    seconds = hit.seconds

    async def left(session: VisitSession) -> bool:
        return session.left(hit.url, seconds)

    await scope.store.change_session(visitor.current_session_id, left)
    return HitOutcome(True, session_id=visitor.current_session_id)


async def _identify(scope: Scope, site: Site, hit: Hit, fresh: Visitor) -> HitOutcome:
    person = participant(hit.email)
    if person is None:
        raise BadUserInput("not an email address", field="e")
    settings = await settings_of(scope)
    if settings.excludes(person.email) or settings.is_internal(person.email):
        return HitOutcome(False, "address not captured")
    try:
        known = await scope.directory.contacts_by_emails(scope.service_caller, [person.email])
    except DirectoryUnavailable:
        return HitOutcome(False, "contacts unavailable")
    contact = known.get(person.email)
    at = scope.now()

    async def noted(visitor: Visitor) -> bool:
        visitor.seen(at)
        return visitor.identify(person.email, contact.id if contact else None, None, at) or True

    visitor = await _visitor(scope, fresh, noted)
    if contact is None:
        await suggest(scope, person, SuggestionSource.WEB_FORM, None, visitor_id=visitor.id)
        return HitOutcome(True, "suggested")
    await identified(scope, visitor.id, person.email, contact.id, contact.company_id, site)
    return HitOutcome(True)


async def identified(
    scope: Scope,
    visitor_id: str,
    email: str,
    contact_id: str,
    company_id: str | None,
    site: Site | None = None,
) -> Visitor | None:
    """The visitor is contact `contact_id`: its sessions, earlier anonymous ones too, join
    the contact's timeline, and its hot-page views count for the contact."""
    at = scope.now()
    visitor = await scope.store.get_visitor(visitor_id)
    if visitor is None:
        return None
    if site is None:
        sites = await scope.store.get_sites([visitor.site_id])
        site = sites[0] if sites else None
    own_site = site

    async def known(current: Visitor) -> bool:
        changed = current.identify(email, contact_id, company_id, at)
        if own_site is not None:
            changed = current.check_hot(own_site, at) or changed
        return changed

    visitor = await scope.store.change_visitor(visitor_id, known) or visitor

    async def attach(session: VisitSession) -> bool:
        return session.attach(contact_id, company_id)

    for session_id in visitor.session_ids:
        await scope.store.change_session(session_id, attach)
    return visitor

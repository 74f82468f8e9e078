"""Web visits: sessions of page views (a new one after 30 minutes apart), UTM tags, time on
page, identification attaching earlier anonymous sessions, hot leads once per window, and
what is never recorded (bots, Do-Not-Track, no consent, other hosts, excluded addresses)."""

from __future__ import annotations

import pytest

from crm_capture.domain.tracking import Site, Utm, is_bot
from crm_capture.usecases import settings, sites, visits
from crm_capture.usecases.inputs import Browser, Hit, SettingsInput, SiteInput
from crm_kit.errors import BadUserInput

from .conftest import World

FIREFOX = Browser(ip="198.51.100.4", user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
VISIT = "crm.capture.visit.recorded.v1"
HOT = "crm.capture.hot_lead.detected.v1"


@pytest.fixture
async def site(world: World) -> Site:
    await settings.update_settings(
        world.scope(),
        SettingsInput(internal_domains=["ourco.example"], excluded_addresses=["vip@acme.example"]),
    )
    world.directory.add_company("acme.example", "Acme")
    world.directory.add_contact("ann@acme.example", "acme.example")
    return await sites.create_site(
        world.scope(), SiteInput(name="www", domains=["shop.example"], hot_threshold=2)
    )


async def hit(
    world: World, site: Site, kind: str, path: str = "/", **fields: object
) -> visits.HitOutcome:
    url = f"https://www.shop.example{path}"
    data = Hit(kind=kind, visitor="visitor-0001", url=url, **fields)  # type: ignore[arg-type]
    return await visits.record(world.service(), site, data, FIREFOX)


async def test_anonymous_views_attach_once_the_visitor_is_identified(
    world: World, site: Site
) -> None:
    landing = "/?utm_source=ads&utm_medium=cpc&utm_campaign=q2"
    first = await hit(world, site, "view", landing, title="Home")
    await hit(world, site, "view", "/pricing", title="Pricing")
    await hit(world, site, "leave", "/pricing", seconds=30)
    assert first.recorded and world.events(VISIT) == []  # anonymous: on no timeline
    identified = await hit(world, site, "identify", "/contact", email="Ann@Acme.example")
    assert identified.recorded
    [visit] = [e.data for e in world.events(VISIT)]
    ann = world.directory.contacts["ann@acme.example"]
    assert visit["contactIds"] == [ann.id] and visit["companyId"] == ann.company_id
    assert visit["pageCount"] == 2 and visit["pages"][0]["utm"]["campaign"] == "q2"
    assert visit["pages"][1]["durationSeconds"] == 30 and "Pricing" in visit["summary"]
    await hit(world, site, "view", "/pricing/team")
    again = world.events(VISIT)[-1].data
    assert again["interactionId"] == visit["interactionId"]
    assert again["revision"] > visit["revision"]
    assert again["pageCount"] == 3
    # Two pricing views in the window by a known visitor: one hot lead, not two.
    hot = [e.data for e in world.events(HOT)]
    assert len(hot) == 1 and hot[0]["contactId"] == ann.id and hot[0]["hotViews"] == 2
    await hit(world, site, "view", "/pricing")
    assert len(world.events(HOT)) == 1


async def test_a_pause_of_thirty_minutes_starts_a_new_session(world: World, site: Site) -> None:
    one = await hit(world, site, "view", "/")
    world.clock.advance(minutes=29)
    same = await hit(world, site, "view", "/a")
    world.clock.advance(minutes=31)
    other = await hit(world, site, "view", "/b")
    assert one.session_id == same.session_id != other.session_id


@pytest.mark.parametrize(
    ("browser", "hit_fields", "reason"),
    [
        (Browser(ip="1.2.3.4", user_agent="Googlebot/2.1"), {}, "bot"),
        (Browser(ip="1.2.3.4", user_agent=None), {}, "bot"),
        (FIREFOX, {"webdriver": True}, "bot"),
        (Browser(ip="1.2.3.4", user_agent="Mozilla/5.0", do_not_track=True), {}, "do not track"),
    ],
)
async def test_what_is_never_recorded(
    world: World, site: Site, browser: Browser, hit_fields: dict, reason: str
) -> None:
    data = Hit(kind="view", visitor="visitor-0002", url="https://shop.example/", **hit_fields)
    outcome = await visits.record(world.service(), site, data, browser)
    assert not outcome.recorded and outcome.reason == reason
    assert world.db.collections["sessions"] == {}


async def test_consent_hosts_and_excluded_addresses(world: World, site: Site) -> None:
    consent = await sites.create_site(world.scope(), SiteInput(name="eu", require_consent=True))
    without = Hit(kind="view", visitor="visitor-0003", url="https://eu.example/")
    assert (await visits.record(world.service(), consent, without, FIREFOX)).reason == "no consent"
    given = Hit(kind="view", visitor="visitor-0003", url="https://eu.example/", consent=True)
    assert (await visits.record(world.service(), consent, given, FIREFOX)).recorded
    elsewhere = Hit(kind="view", visitor="visitor-0004", url="https://evil.example/")
    outcome = await visits.record(world.service(), site, elsewhere, FIREFOX)
    assert outcome.reason == "host not tracked"
    vip = Hit(
        kind="identify",
        visitor="visitor-0004",
        url="https://shop.example/",
        email="vip@acme.example",
    )
    outcome = await visits.record(world.service(), site, vip, FIREFOX)
    assert outcome.reason == "address not captured"


async def test_an_unknown_email_becomes_a_suggestion_not_a_contact(
    world: World, site: Site
) -> None:
    await hit(world, site, "view", "/")
    outcome = await hit(world, site, "identify", "/", email="new@prospect.example")
    assert outcome.reason == "suggested" and world.events(VISIT) == []
    [made] = [e.data for e in world.events("crm.capture.suggestion.created.v1")]
    assert made["email"] == "new@prospect.example" and made["source"] == "web_form"
    assert "new@prospect.example" not in world.directory.contacts


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "click"}, "t"),
        ({"visitor": "x"}, "v"),
        ({"url": "javascript:alert(1)"}, "u"),
        ({"seconds": -1, "kind": "leave"}, "d"),
    ],
)
async def test_malformed_reports_name_the_field(
    world: World, site: Site, fields: dict, field: str
) -> None:
    base = {"kind": "view", "visitor": "visitor-0005", "url": "https://shop.example/"}
    with pytest.raises(BadUserInput) as raised:
        await visits.record(world.service(), site, Hit(**{**base, **fields}), FIREFOX)
    assert raised.value.field == field


def test_utm_tags_and_bots() -> None:
    assert Utm.of("https://a.example/?utm_source=x&utm_term=y") == Utm(source="x", term="y")
    assert Utm.of("https://a.example/?q=1") is None
    assert is_bot("Mozilla/5.0 (compatible; bingbot/2.0)") and is_bot("curl/8.0")
    assert not is_bot("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605 Safari/605")

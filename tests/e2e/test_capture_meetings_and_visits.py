"""Meetings and web visits end to end, through the gateway.

Meetings: an uploaded calendar's recurring meeting becomes one interaction per occurrence
(in UTC, whatever the zone it was written in); a newer SEQUENCE moves an occurrence
instead of adding one; a cancelled occurrence, then the whole series, leaves the
timeline; an older version changes nothing.

Visits: the snippet's reports, sent to the gateway's public door: anonymous page views
attach to the contact once a form gives their email, later views grow the same session's
interaction; bots, Do-Not-Track and missing consent record nothing; pricing views make a
hot lead (an event rules can trigger on)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from crm_contracts import capture as contract
from crm_contracts.streams import stream_for
from crm_kit.nats_io import connect

from .capture_world import World, make_world
from .conftest import Stack
from .helpers import eventually, new_workspace

pytestmark = pytest.mark.e2e

BROWSER = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"}


@pytest.fixture
async def world(stack: Stack) -> AsyncIterator[World]:
    made = await make_world(stack, new_workspace())
    yield made
    await made.close()


def calendar(uid: str, sequence: int, body: str, method: str = "REQUEST") -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\n"
        f"METHOD:{method}\r\n"
        "BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\nBEGIN:STANDARD\r\n"
        "DTSTART:19701101T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\n"
        "TZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\n"
        "DTSTART:19700308T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\n"
        "TZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
        f"{body}END:VCALENDAR\r\n"
    )


def event(uid: str, sequence: int, extra: str, summary: str = "Globex sync") -> str:
    return (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:{sequence}\r\n"
        f"DTSTAMP:2026-03-01T12:00:00Z\r\n".replace("2026-03-01T12:00:00Z", "20260301T120000Z")
        + "ORGANIZER;CN=Rita:mailto:rita@ourco.example\r\n"
        "ATTENDEE;CN=Bob Brown:mailto:bob@globex.example\r\n"
        f"SUMMARY:{summary}\r\n{extra}END:VEVENT\r\n"
    )


SERIES = (
    "DTSTART;TZID=America/New_York:20260305T090000\r\n"
    "DTEND;TZID=America/New_York:20260305T093000\r\n"
    "RRULE:FREQ=WEEKLY;COUNT=3\r\n"
)
CAPTURE_ICS = """mutation($ics: String!) { captureCalendar(ics: $ics) { uid status reason
  meeting { occurrences { startsAt cancelled } } } }"""


async def meetings(world: World) -> list[tuple[str, str]]:
    found = await world.timeline("bob@globex.example")
    return sorted((i["occurredAt"][:19], i["subject"]) for i in found if i["kind"] == "MEETING")


async def settle(world: World, wanted: list[tuple[str, str]]) -> list[tuple[str, str]]:
    async def probe() -> bool:
        return await meetings(world) == wanted

    await eventually(probe, what=f"meetings {wanted}")
    return wanted


async def capture_ics(world: World, ics: str) -> list[dict[str, Any]]:
    data = await world.rita.data(CAPTURE_ICS, {"ics": ics})
    result: list[dict[str, Any]] = data["captureCalendar"]
    return result


async def test_a_series_is_updated_and_cancelled_not_duplicated(world: World) -> None:
    uid = f"series-{uuid.uuid4().hex}@ourco.example"
    first = await capture_ics(world, calendar(uid, 0, event(uid, 0, SERIES)))
    assert first[0]["status"] == "captured"
    # 09:00 in New York: 14:00 UTC before the clocks change (March 8), 13:00 after.
    await settle(world, [("2026-03-05T14:00:00", "Globex sync"),
                         ("2026-03-12T13:00:00", "Globex sync"),
                         ("2026-03-19T13:00:00", "Globex sync")])  # fmt: skip

    # SEQUENCE 1: the second occurrence moves to the afternoon and is renamed.
    moved = event(
        uid, 1,
        "RECURRENCE-ID;TZID=America/New_York:20260312T090000\r\n"
        "DTSTART;TZID=America/New_York:20260312T150000\r\n"
        "DTEND;TZID=America/New_York:20260312T153000\r\n",
        summary="Globex sync (moved)",
    )  # fmt: skip
    update = await capture_ics(world, calendar(uid, 1, event(uid, 1, SERIES) + moved))
    assert update[0]["status"] == "updated"
    await settle(world, [("2026-03-05T14:00:00", "Globex sync"),
                         ("2026-03-12T19:00:00", "Globex sync (moved)"),
                         ("2026-03-19T13:00:00", "Globex sync")])  # fmt: skip

    # An older version arriving late changes nothing.
    late = await capture_ics(world, calendar(uid, 0, event(uid, 0, SERIES)))
    assert late[0]["status"] == "unchanged"

    # One occurrence cancelled, then the whole series.
    one = event(
        uid, 2,
        "RECURRENCE-ID;TZID=America/New_York:20260319T090000\r\n"
        "DTSTART;TZID=America/New_York:20260319T090000\r\n"
        "DTEND;TZID=America/New_York:20260319T093000\r\n",
    )  # fmt: skip
    await capture_ics(world, calendar(uid, 2, one, method="CANCEL"))
    await settle(world, [("2026-03-05T14:00:00", "Globex sync"),
                         ("2026-03-12T19:00:00", "Globex sync (moved)")])  # fmt: skip
    gone = await capture_ics(world, calendar(uid, 3, event(uid, 3, SERIES), method="CANCEL"))
    assert gone[0]["status"] == "cancelled"
    await settle(world, [])


async def test_an_invitation_by_mail_and_by_upload_is_one_meeting(world: World) -> None:
    uid = f"single-{uuid.uuid4().hex}@ourco.example"
    single = "DTSTART:20260402T150000Z\r\nDTEND:20260402T160000Z\r\nLOCATION:Globex HQ\r\n"
    ics = calendar(uid, 0, event(uid, 0, single, summary="Globex QBR"))
    mail = (
        "From: Rita Rep <rita@ourco.example>\r\nTo: Bob Brown <bob@globex.example>\r\n"
        f"Subject: Invitation: Globex QBR\r\nMessage-ID: <{uid}-mail>\r\n"
        "Date: Wed, 01 Apr 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/calendar; charset=utf-8; method=REQUEST\r\n\r\n" + ics
    )
    await world.send(mail)
    await settle(world, [("2026-04-02T15:00:00", "Globex QBR")])
    again = await capture_ics(world, ics)
    assert again[0]["status"] == "unchanged"
    assert await meetings(world) == [("2026-04-02T15:00:00", "Globex QBR")]


# -- visits ----------------------------------------------------------------------------


async def tracking_site(world: World, **settings: Any) -> dict[str, Any]:
    made = await world.admin.data(
        """mutation($i: TrackingSiteInput!) { createTrackingSite(input: $i) { id snippet
             hotPaths hotThreshold } }""",
        {"i": {"name": "www", "domains": ["acme-shop.example"], **settings}},
    )
    site: dict[str, Any] = made["createTrackingSite"]
    return site


class Browser:
    """A visitor's browser running the snippet: reports to the gateway's public door."""

    def __init__(self, gateway: str, site: str, headers: dict[str, str] | None = None) -> None:
        self.base = gateway.removesuffix("/graphql")
        self.site = site
        self.visitor = uuid.uuid4().hex
        self.headers = {**BROWSER, **(headers or {})}
        self.http = httpx.AsyncClient(timeout=10)

    async def post(self, body: bytes) -> int:
        answer = await self.http.post(f"{self.base}/t/c", content=body, headers=self.headers)
        return answer.status_code

    async def report(self, kind: str, path: str, **extra: Any) -> int:
        url = f"https://acme-shop.example{path}"
        body = {"k": self.site, "t": kind, "v": self.visitor, "u": url, "c": True, **extra}
        return await self.post(orjson.dumps(body))

    async def close(self) -> None:
        await self.http.aclose()


async def visits(world: World, email: str) -> list[dict[str, Any]]:
    return [i for i in await world.timeline(email) if i["kind"] == "WEB_VISIT"]


async def one_visit_showing(world: World, email: str, text: str) -> dict[str, Any] | None:
    found = await visits(world, email)
    return found[0] if len(found) == 1 and text in (found[0]["summary"] or "") else None


async def test_visits_before_and_after_identification(world: World, stack: Stack) -> None:
    site = await tracking_site(world, hotPaths=["/pricing"], hotThreshold=2)
    assert f'data-site="{site["id"]}"' in site["snippet"] and "/t/s.js" in site["snippet"]
    async with httpx.AsyncClient() as http:
        snippet = await http.get(stack.gateway_url.removesuffix("/graphql") + "/t/s.js")
    assert snippet.status_code == 200 and b"sendBeacon" in snippet.content
    assert len(snippet.content) < 2048
    nats = await connect(stack.env["NATS_URL"], user="harness")
    hot = await nats.jetstream().subscribe(
        contract.HOT_LEAD_DETECTED, stream=stream_for("capture").name, ordered_consumer=True
    )
    browser = Browser(stack.gateway_url, site["id"])
    try:
        landing = "/?utm_source=newsletter&utm_campaign=spring"
        assert await browser.report("view", landing, r="https://news.example/", ti="Home") == 204
        assert await browser.report("view", "/pricing", ti="Pricing") == 204
        assert await browser.report("leave", "/pricing", d=42) == 204
        assert await visits(world, "ann@acme.example") == []  # anonymous so far
        # A form on the site posts Ann's address: the earlier visit is hers now.
        assert await browser.report("identify", "/contact", e="ann@acme.example") == 204
        visit = await eventually(
            lambda: one_visit_showing(world, "ann@acme.example", "Pricing"),
            what="the anonymous visit on Ann's timeline",
        )
        assert "From: newsletter / spring" in visit["summary"] and "(42s)" in visit["summary"]
        # A later page view in the same session grows the same interaction.
        await browser.report("view", "/pricing/enterprise", ti="Enterprise pricing")
        grown = await eventually(
            lambda: one_visit_showing(world, "ann@acme.example", "Enterprise pricing"),
            what="the session grown",
        )
        assert grown["id"] == visit["id"] and grown["subject"] == "Web visit: 3 pages"
        # Pricing viewed twice within the window by an identified visitor: a hot lead.
        found = []
        while True:
            message = await hot.next_msg(timeout=20)
            event = orjson.loads(message.data)
            if event["workspace"] == world.workspace:
                found.append(event["data"])
                break
        assert found[0]["contactId"] == world.contacts["ann@acme.example"]
        assert found[0]["hotViews"] >= 2 and found[0]["paths"][0] == "/pricing"
    finally:
        await browser.close()
        await hot.unsubscribe()
        await nats.close()


async def test_bots_do_not_track_and_missing_consent_record_nothing(
    world: World, stack: Stack
) -> None:
    site = await tracking_site(world)
    consent_site = await tracking_site(world, requireConsent=True)
    unwanted = [
        Browser(stack.gateway_url, site["id"], {"user-agent": "Googlebot/2.1"}),
        Browser(stack.gateway_url, site["id"], {"dnt": "1"}),
        Browser(stack.gateway_url, site["id"], {"sec-gpc": "1"}),
    ]
    no_consent = Browser(stack.gateway_url, consent_site["id"])
    given = Browser(stack.gateway_url, consent_site["id"])
    try:
        for browser in unwanted:
            assert await browser.report("view", "/pricing") == 204
            assert await browser.report("identify", "/c", e="bob@globex.example") == 204
        # The page has not said the visitor agreed (c: false): dropped.
        assert await no_consent.report("view", "/", c=False) == 204
        assert await no_consent.report("identify", "/c", e="bob@globex.example", c=False) == 204
        await given.report("view", "/consented")
        await given.report("identify", "/c", e="bob@globex.example")
        await eventually(
            lambda: one_visit_showing(world, "bob@globex.example", "/consented"),
            what="only the consented visit",
        )
        # Malformed and unknown reports are refused, not stored.
        assert await given.post(b"not json") == 400
        unknown = {"k": "s_nosuchsite", "t": "view", "v": given.visitor, "u": "https://a.example/"}
        assert await given.post(orjson.dumps(unknown)) == 404
        assert len(await visits(world, "bob@globex.example")) == 1
    finally:
        for browser in [*unwanted, no_consent, given]:
            await browser.close()

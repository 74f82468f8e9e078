"""A phone in the field: on a 390 px wide screen no page is wider than the screen (the
navigation and wide tables scroll inside their own boxes, a card's screen-reader text
scrolls with the board), and the board's columns still scroll sideways."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from ..conftest import Stack
from .app import Api, base_url, new_workspace, sign_in
from .conftest import watched_page

pytestmark = pytest.mark.e2e
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    yield from watched_page(browser, viewport=PHONE, is_mobile=True, has_touch=True)


def page_width(page: Page) -> int:
    # The layout viewport of a mobile browser grows to what the page is wide.
    return int(page.evaluate("Math.max(document.documentElement.scrollWidth, window.innerWidth)"))


def test_no_screen_is_wider_than_a_phone(stack: Stack, phone: Page) -> None:
    workspace = new_workspace()
    api = Api(stack.gateway_url, workspace)
    company = api.company("Vehement Capital Partners International")
    api.contact("Annabelle", "Featherstonehaugh", companyId=company, email="annabelle@vcp.example")
    deal = api.deal("Enterprise licence renewal for three regions", "125000", companyId=company)
    for stage in ("qualification", "engaging", "proposal", "negotiation"):
        api.deal(f"Deal in {stage}", "1000", stageKey=stage, override=True)
    api.data(
        'mutation($d: ID!) { createTask(input: {title: "Call the procurement lead", dealId: $d,'
        ' dueAt: "2026-01-05T09:00:00Z"}) { id } }',
        {"d": deal},
    )

    base = base_url(stack.gateway_url)
    sign_in(phone, base, workspace, "Avery Quinn")
    expect(phone.get_by_test_id("board-column")).to_have_count(5)
    board = phone.locator(".board")
    assert board.evaluate("el => el.scrollWidth > el.clientWidth")  # the columns scroll
    assert page_width(phone) <= PHONE["width"], "/board"
    # A colleague assigns a task: its live notice in the top bar fits the screen too.
    expect(phone.get_by_test_id("live-status")).to_have_attribute("data-status", "live")
    colleague = Api(stack.gateway_url, workspace, "melvin-marxen")
    colleague.data(
        'mutation { createTask(input: {title: "Prepare the quarterly business review deck for'
        ' the regional board", assigneeId: "admin"}) { id } }'
    )
    expect(phone.get_by_test_id("live-notice")).to_contain_text("Assigned to you")
    assert page_width(phone) <= PHONE["width"], "/board with a live notice"
    for path in (
        f"/deals/{deal}",
        "/tasks",
        "/contacts",
        "/companies",
        "/dashboards",
        "/imports",
        "/settings",
    ):
        phone.goto(f"{base}{path}")
        phone.wait_for_load_state("networkidle")
        expect(phone.locator("h1").first).to_be_visible()
        assert page_width(phone) <= PHONE["width"], path

"""Live updates in the browser: while a rep looks at the board, a colleague's move, a task
assigned to the rep and a renamed deal appear by themselves, through the gateway's
subscriptions (graphql-transport-ws), without a reload or a focus change."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from ..conftest import Stack
from .app import Api, base_url, new_workspace, sign_in

pytestmark = pytest.mark.e2e
REP = "darcel-schlecht"
# A reload would lose this: the page is the same page throughout.
MARK = "() => { window.__sameDocument = true; }"
SAME_DOCUMENT = "() => window.__sameDocument === true"


def card(page: Page, title: str):
    return page.get_by_test_id("deal-card").filter(has_text=title)


def test_a_colleagues_changes_appear_without_a_reload(stack: Stack, page: Page) -> None:
    workspace = new_workspace()
    colleague = Api(stack.gateway_url, workspace)
    initech = colleague.company("Initech")
    deal = colleague.deal("Rack upgrade", "5000", ownerId=REP, companyId=initech)

    sign_in(page, base_url(stack.gateway_url), workspace, "Darcel Schlecht")
    expect(page.get_by_test_id("live-status")).to_have_attribute("data-status", "live")
    expect(card(page, "Rack upgrade")).to_have_attribute("data-stage", "prospecting")
    page.evaluate(MARK)

    # The colleague moves the deal: the card changes column on the rep's board.
    colleague.data(
        'mutation($d: ID!) { moveDeal(id: $d, stageKey: "qualification") { id } }', {"d": deal}
    )
    expect(card(page, "Rack upgrade")).to_have_attribute("data-stage", "qualification")

    # A task assigned to the rep: it shows in My tasks, and a notice says so.
    page.get_by_role("link", name="My tasks").click()
    rows = page.get_by_test_id("task-row")
    expect(rows.filter(has_text="Discovery call with the buyer")).to_have_count(1)  # playbook
    colleague.data(
        'mutation($a: ID!) { createTask(input: {title: "Send the quote", assigneeId: $a}) { id } }',
        {"a": REP},
    )
    expect(rows.filter(has_text="Send the quote")).to_have_count(1)
    expect(page.get_by_test_id("live-notice")).to_have_text("Assigned to you: Send the quote")

    # The deal page follows a rename.
    page.get_by_role("link", name="Pipeline").click()
    card(page, "Rack upgrade").get_by_role("link", name="Rack upgrade").click()
    expect(page.get_by_test_id("deal-title")).to_have_text("Rack upgrade")
    colleague.data(
        'mutation($d: ID!) { updateDeal(id: $d, input: {title: "Rack upgrade (2 racks)"}) { id } }',
        {"d": deal},
    )
    expect(page.get_by_test_id("deal-title")).to_have_text("Rack upgrade (2 racks)")
    assert page.evaluate(SAME_DOCUMENT), "the page was reloaded"

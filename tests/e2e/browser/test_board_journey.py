"""A rep's day on the board: sign in, drag a deal to a stage whose entry its exit criteria
refuse, see what is missing, fix it there, move it; move another with the keyboard only;
find the playbook tasks the moves created in My tasks; close a deal as lost with a reason."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from ..conftest import Stack
from .app import Api, base_url, contrast_violations, eventually, new_workspace, sign_in

pytestmark = pytest.mark.e2e
REP = "darcel-schlecht"


def column(page: Page, stage: str):
    return page.locator(f'[data-testid="board-column"][data-stage="{stage}"]')


def card(page: Page, title: str):
    return page.get_by_test_id("deal-card").filter(has_text=title)


def test_move_blocked_by_exit_criteria_fixed_in_place_then_tasks_appear(
    stack: Stack, page: Page
) -> None:
    workspace = new_workspace()
    api = Api(stack.gateway_url, workspace)
    initech = api.company("Initech")
    api.contact("Peter", "Gibbons", companyId=initech)
    api.deal("Rack upgrade", "5000", ownerId=REP)  # no company yet
    api.deal("Cabling", "2000", ownerId=REP, companyId=initech)

    base = base_url(stack.gateway_url)
    sign_in(page, base, workspace, "Darcel Schlecht")
    expect(page.get_by_test_id("board-column")).to_have_count(5)
    expect(column(page, "prospecting").get_by_test_id("column-count")).to_have_text("2")
    assert contrast_violations(page) == []

    # Drag to Qualification: leaving Prospecting needs a company, so the card comes back.
    card(page, "Rack upgrade").drag_to(column(page, "qualification"))
    dialog = page.get_by_test_id("move-blocked")
    expect(dialog).to_be_visible()
    unmet = dialog.get_by_test_id("unmet-list")
    expect(unmet).to_contain_text("requires a company")
    expect(column(page, "prospecting").get_by_test_id("deal-card")).to_have_count(2)

    # Fix it in the dialog: pick the company, then move again.
    dialog.get_by_label("Company", exact=True).fill("Initech")
    dialog.get_by_role("button", name="Initech").click()
    expect(unmet.locator('li[data-criterion="field:company"]')).to_have_class("fixed")
    dialog.get_by_test_id("retry-move").click()
    expect(dialog).to_be_hidden()
    expect(card(page, "Rack upgrade")).to_have_attribute("data-stage", "qualification")

    # The keyboard alone: Space picks the card up, the arrow chooses, Enter drops.
    cabling = card(page, "Cabling")
    cabling.focus()
    page.keyboard.press("Space")
    expect(cabling).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("board-announcement")).to_contain_text(
        "Cabling moved to Qualification"
    )
    expect(card(page, "Cabling")).to_have_attribute("data-stage", "qualification")
    expect(column(page, "qualification").get_by_test_id("column-count")).to_have_text("2")

    # Both entered Qualification: its playbook books a discovery call for the owner.
    page.get_by_role("link", name="My tasks").click()
    rows = page.get_by_test_id("task-row").filter(has_text="Discovery call with the buyer")
    eventually(page, lambda: rows.count() == 2)
    expect(rows.filter(has_text="Rack upgrade")).to_have_count(1)
    expect(rows.filter(has_text="Cabling")).to_have_count(1)
    assert contrast_violations(page) == []


def test_lost_needs_a_reason_shown_at_the_reason(stack: Stack, page: Page) -> None:
    workspace = new_workspace()
    api = Api(stack.gateway_url, workspace)
    api.deal("Printer fleet", "900", ownerId=REP)
    sign_in(page, base_url(stack.gateway_url), workspace, "Darcel Schlecht")

    card(page, "Printer fleet").drag_to(page.get_by_test_id("drop-lost"))
    dialog = page.get_by_test_id("close-deal")
    dialog.get_by_role("button", name="Mark as lost").click()
    reason = dialog.get_by_label("Reason")
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(dialog.get_by_role("alert").first).to_contain_text("reason")
    reason.select_option("Chose a competitor")
    dialog.get_by_role("button", name="Mark as lost").click()
    expect(dialog).to_be_hidden()
    expect(card(page, "Printer fleet")).to_have_count(0)
    expect(page.get_by_test_id("drop-lost")).to_contain_text("1 deal ·")

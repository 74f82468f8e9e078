"""The deal page: edit with validation next to the field; an expired session sends the user
to sign in and back, with what they were typing still there."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from crm_kit.auth import issue_token

from ..conftest import Stack
from .app import Api, base_url, contrast_violations, new_workspace, sign_in

pytestmark = pytest.mark.e2e


def test_deal_fields_validate_and_an_expired_session_keeps_the_draft(
    stack: Stack, page: Page
) -> None:
    workspace = new_workspace()
    api = Api(stack.gateway_url, workspace)
    deal = api.deal("Rack upgrade", "5000", ownerId="darcel-schlecht")
    base = base_url(stack.gateway_url)
    sign_in(page, base, workspace, "Darcel Schlecht", f"/deals/{deal}")
    expect(page.get_by_test_id("deal-title")).to_have_text("Rack upgrade")
    expect(page.get_by_test_id("win-probability")).to_contain_text("10%")
    expect(page.get_by_test_id("stage-history")).to_contain_text("Prospecting")
    assert contrast_violations(page) == []

    fields = page.get_by_test_id("deal-fields")
    amount = fields.get_by_label("Amount")
    amount.fill("12,50")
    fields.get_by_role("button", name="Save").click()
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(fields.get_by_role("alert").first).to_contain_text("An amount like 1250")
    amount.fill("7500")
    fields.get_by_label("Next step", exact=True).fill("Send the rack diagram")

    # The token runs out while the form is open.
    expired = issue_token(workspace, "darcel-schlecht", ["rep"], ttl_seconds=-60)
    page.evaluate(
        "token => { const s = JSON.parse(localStorage.getItem('crm.session'));"
        " s.token = token; localStorage.setItem('crm.session', JSON.stringify(s)); }",
        expired,
    )
    fields.get_by_role("button", name="Save").click()
    page.wait_for_url("**/sign-in?next=*")
    expect(page.get_by_role("status").filter(has_text="Your session ended")).to_be_visible()
    page.get_by_label("Workspace").fill(workspace)
    page.get_by_test_id("demo-user").filter(has_text="Darcel Schlecht").click()
    page.wait_for_url(f"**/deals/{deal}")
    fields = page.get_by_test_id("deal-fields")
    expect(fields.get_by_label("Next step", exact=True)).to_have_value("Send the rack diagram")
    expect(fields.get_by_label("Amount")).to_have_value("7500")
    fields.get_by_role("button", name="Save").click()
    expect(fields.get_by_role("status")).to_have_text("Saved.")
    saved = api.data("query($id: ID!) { deal(id: $id) { amount nextStep } }", {"id": deal})
    assert saved["deal"] == {"amount": "7500.00", "nextStep": "Send the rack diagram"}
    assert json.loads(page.evaluate("JSON.stringify(Object.keys(sessionStorage))")) == [
        "crm.signout-reason"
    ]  # the draft is gone once saved

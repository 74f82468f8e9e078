"""Contacts: find a contact, log an interaction and see it on the timeline; merge two
duplicate contacts after the dry run shows what moves."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ..conftest import Stack
from .app import Api, base_url, contrast_violations, new_workspace, sign_in

pytestmark = pytest.mark.e2e


def test_log_an_interaction_and_see_it_on_the_timeline(stack: Stack, page: Page) -> None:
    workspace = new_workspace()
    api = Api(stack.gateway_url, workspace)
    initech = api.company("Initech")
    api.contact("Peter", "Gibbons", companyId=initech, email="peter@initech.example")
    api.contact("Samir", "Nagheenanajar", companyId=initech)
    sign_in(page, base_url(stack.gateway_url), workspace, "Gladys Colclough", "/contacts")

    page.get_by_test_id("contacts-search").fill("gibbons")
    table = page.get_by_test_id("contacts-table")
    expect(table.locator("tbody tr")).to_have_count(1)
    table.get_by_role("link", name="Peter Gibbons").click()
    expect(page.get_by_test_id("contact-name")).to_have_text("Peter Gibbons")
    expect(page.get_by_test_id("timeline")).to_have_count(0)  # the empty state first

    form = page.get_by_test_id("log-interaction")
    form.get_by_label("Kind").select_option("MEETING")
    form.get_by_label("Subject").fill("Demo of the rack")
    form.get_by_label("Summary").fill("Wants TPS reports on every unit.")
    form.get_by_role("button", name="Log interaction").click()
    first = page.get_by_test_id("timeline-item").first
    expect(first).to_contain_text("Meeting")
    expect(first).to_contain_text("Demo of the rack")
    expect(first).to_contain_text("logged by Gladys Colclough")
    expect(form.get_by_label("Subject")).to_have_value("")  # the form (and its draft) cleared
    assert contrast_violations(page) == []


def test_merge_duplicate_contacts_after_a_dry_run(stack: Stack, page: Page) -> None:
    workspace = new_workspace()
    api = Api(stack.gateway_url, workspace)
    initech = api.company("Initech")
    survivor = api.contact(
        "Peter",
        "Gibbons",
        companyId=initech,
        email="peter@initech.example",
        phones=["+1 415 555 0100"],
    )
    duplicate = api.contact(
        "Peter",
        "Gibbons",
        companyId=initech,
        email="pgibbons@mail.example",
        phones=["(415) 555-0100"],
    )
    api.data(
        "mutation($c: ID!) { logInteraction(input: "
        '{contactId: $c, kind: CALL, subject: "Lumbergh call"}) { id } }',
        {"c": duplicate},
    )
    base = base_url(stack.gateway_url)
    sign_in(page, base, workspace, "Gladys Colclough", f"/contacts/{survivor}")

    found = page.get_by_test_id("duplicates").get_by_test_id("duplicate")
    expect(found).to_have_count(1)
    expect(found).to_contain_text("Same phone")
    found.get_by_role("button", name="Merge into Peter Gibbons").click()
    dialog = page.get_by_test_id("merge-dialog")
    plan = dialog.get_by_test_id("merge-plan")
    expect(plan).to_contain_text("1 interaction move over")
    expect(plan).to_contain_text("pgibbons@mail.example")  # the duplicate's email joins
    dialog.get_by_test_id("confirm-merge").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("status").filter(has_text="Merged Peter Gibbons")).to_be_visible()
    expect(page.get_by_test_id("timeline-item").filter(has_text="Lumbergh call")).to_have_count(1)
    expect(page.get_by_test_id("duplicates")).to_contain_text("No likely duplicates")

    page.goto(f"{base}/contacts/{duplicate}")
    expect(page.get_by_role("alert")).to_contain_text("does not exist (or was merged")


def test_export_the_searched_contacts_and_download_the_file(stack: Stack, page: Page) -> None:
    workspace = new_workspace()
    api = Api(stack.gateway_url, workspace)
    initech = api.company("Initech")
    api.contact("Peter", "Gibbons", companyId=initech, email="peter@initech.example")
    api.contact("Samir", "Nagheenanajar", companyId=initech)
    sign_in(page, base_url(stack.gateway_url), workspace, "Gladys Colclough", "/contacts")

    page.get_by_test_id("contacts-search").fill("gibbons")
    expect(page.get_by_test_id("contacts-table").locator("tbody tr")).to_have_count(1)
    page.get_by_test_id("export-start").click()  # the list as filtered, as CSV
    ready = page.get_by_test_id("export-download")
    expect(ready).to_contain_text("(1 row)", timeout=60_000)
    with page.expect_download() as started:
        ready.click()
    download = started.value
    assert download.suggested_filename.startswith("contacts-")
    assert download.suggested_filename.endswith(".csv")
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    assert text.startswith("external_id,first_name,last_name,email,")
    assert "Peter,Gibbons,peter@initech.example" in text and "Samir" not in text
    assert contrast_violations(page) == []


def test_edit_a_contacts_details_in_place_then_delete_it(stack: Stack, page: Page) -> None:
    workspace = new_workspace()
    api = Api(stack.gateway_url, workspace)
    initech = api.company("Initech")
    api.company("Initrode")
    contact = api.contact("Milton", "Waddams", companyId=initech, email="milton@initech.example")
    base = base_url(stack.gateway_url)
    sign_in(page, base, workspace, "Avery Quinn", f"/contacts/{contact}")

    fields = page.get_by_test_id("contact-fields")
    fields.get_by_label("Job title").fill("Collator")
    fields.get_by_label("Phones").fill("+44 20 7946 0958, 12")  # the second is no number
    fields.get_by_label("Stage").select_option("CUSTOMER")
    fields.get_by_role("button", name="Change company").click()
    fields.get_by_role("searchbox", name="Company").fill("Initro")
    fields.get_by_role("button", name="Initrode").click()
    fields.get_by_role("button", name="Save").click()
    expect(fields).to_contain_text("'12' is not a valid phone number")  # at the field
    unchanged = api.data("query($id: ID!) { contact(id: $id) { title } }", {"id": contact})
    assert unchanged == {"contact": {"title": None}}  # one change, all or nothing
    fields.get_by_label("Phones").fill("+44 20 7946 0958")
    fields.get_by_role("button", name="Save").click()
    expect(fields.get_by_role("status")).to_have_text("Saved.")

    page.reload()
    fields = page.get_by_test_id("contact-fields")
    expect(fields.get_by_label("Job title")).to_have_value("Collator")
    expect(fields.get_by_label("Phones")).to_have_value("+442079460958")  # as stored (E.164)
    expect(fields.get_by_label("Stage")).to_have_value("CUSTOMER")
    expect(fields).to_contain_text("Initrode")
    stored = api.data(
        "query($id: ID!) { contact(id: $id) { title phones lifecycleStage company { name } } }",
        {"id": contact},
    )["contact"]
    assert stored == {
        "title": "Collator",
        "phones": ["+442079460958"],
        "lifecycleStage": "CUSTOMER",
        "company": {"name": "Initrode"},
    }

    page.once("dialog", lambda dialog: dialog.accept())
    fields.get_by_role("button", name="Delete contact").click()
    page.wait_for_url("**/contacts")
    assert api.data("query($id: ID!) { contact(id: $id) { id } }", {"id": contact}) == {
        "contact": None
    }


def test_edit_a_companys_details_in_place(stack: Stack, page: Page) -> None:
    workspace = new_workspace()
    api = Api(stack.gateway_url, workspace)
    company = api.company("Initech")
    sign_in(page, base_url(stack.gateway_url), workspace, "Avery Quinn", f"/companies/{company}")

    fields = page.get_by_test_id("company-fields")
    fields.get_by_label("Employees").fill("250")
    fields.get_by_label("City").fill("Austin")
    fields.get_by_label("Domain").fill("not a domain")
    fields.get_by_role("button", name="Save").click()
    expect(fields).to_contain_text("'not a domain' is not a domain name")  # at the field
    fields.get_by_label("Domain").fill("initech.example")
    fields.get_by_role("button", name="Save").click()
    expect(fields.get_by_role("status")).to_have_text("Saved.")

    page.reload()
    expect(page.get_by_test_id("company-fields").get_by_label("City")).to_have_value("Austin")
    stored = api.data(
        "query($id: ID!) { company(id: $id) { size domain address { city } } }", {"id": company}
    )["company"]
    assert stored == {"size": 250, "domain": "initech.example", "address": {"city": "Austin"}}

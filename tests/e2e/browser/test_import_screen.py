"""Import: a manager uploads a cp1252, `;`-separated file, sees how it was read and the
suggested mapping, gets a mapping mistake shown with its place, and fixes it. (The runs
themselves need the record owners: tests/e2e/test_imports_journeys.py.)"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from ..conftest import Stack
from ..imports_client import FIXTURES as IMPORT_FIXTURES
from .app import base_url, contrast_violations, new_workspace, sign_in

pytestmark = pytest.mark.e2e


def test_upload_preview_and_a_mapping_mistake(stack: Stack, page: Page) -> None:
    workspace = new_workspace()
    sign_in(page, base_url(stack.gateway_url), workspace, "Melvin Marxen", "/imports")
    page.get_by_label("Records").select_option("COMPANIES")
    page.get_by_test_id("import-file").set_input_files(
        str(IMPORT_FIXTURES / "cp1252-semicolon.csv")
    )
    page.get_by_test_id("import-upload").click()
    page.wait_for_url("**/imports/*")
    preview = page.get_by_test_id("import-preview")
    expect(preview).to_contain_text("encoding cp1252")
    expect(preview).to_contain_text("delimiter “;”")
    expect(preview).to_contain_text("Brüder Müller GmbH")
    expect(page.get_by_test_id("import-status")).to_have_attribute("data-status", "DRAFT")

    mapping = page.get_by_test_id("import-mapping")
    suggested = json.loads(mapping.input_value())
    assert suggested["fields"]["name"] == {"column": "Name"}
    wrong = {**suggested, "fields": {**suggested["fields"], "name": {"column": "Nmae"}}}
    mapping.fill(json.dumps(wrong))
    page.get_by_test_id("import-set-mapping").click()
    expect(page.get_by_test_id("mapping-error-field")).to_have_text("mapping.fields.name.column")

    mapping.fill(json.dumps(suggested))
    # The same mapping, column by column: the table follows the JSON and edits it.
    employees = page.get_by_test_id("import-column-Employees")
    expect(employees).to_have_value(suggested_field(suggested, "Employees"))
    employees.select_option("custom.employees")
    assert json.loads(mapping.input_value())["fields"]["custom.employees"] == {
        "column": "Employees"
    }
    page.get_by_test_id("import-column-Name").select_option("")
    expect(page.get_by_test_id("import-missing-required")).to_contain_text("Name")
    page.get_by_test_id("import-column-Name").select_option("name")
    expect(page.get_by_test_id("import-missing-required")).to_have_count(0)
    page.get_by_test_id("import-set-mapping").click()
    expect(page.get_by_test_id("import-status")).to_have_attribute("data-status", "READY")
    expect(page.get_by_test_id("import-dry-run")).to_be_enabled()
    assert contrast_violations(page) == []


def suggested_field(mapping: dict[str, dict[str, dict[str, str]]], column: str) -> str:
    """The field the suggested mapping feeds from `column` on its own ("" for none)."""
    return next((f for f, rule in mapping["fields"].items() if rule.get("column") == column), "")

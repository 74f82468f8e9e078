"""The reader and the mapping on the public CRM dataset (../shared/data): every row read,
no issue, the suggested mapping right, the deals' dates consistent by the rules."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from crm_kit.paths import demo_dataset_dir
from crm_tabular import DuplicateFinder, Rules, mapped_rows, open_table, preview_file

DATA = demo_dataset_dir()


@pytest.mark.parametrize(
    ("name", "rows", "columns"),
    [
        ("sales_pipeline.csv", 8800, 8),
        ("accounts.csv", 85, 7),
        ("products.csv", 7, 3),
        ("sales_teams.csv", 35, 3),
        ("data_dictionary.csv", 21, 3),
    ],
)
def test_every_row_of_the_dataset_reads_cleanly(name: str, rows: int, columns: int) -> None:
    with open_table(DATA / name) as table:
        assert (table.encoding, table.delimiter) == ("utf-8", ",")
        assert len(table.header) == columns and not table.header_issues
        read = list(table.rows())
    assert len(read) == rows
    assert [row.number for row in read] == list(range(2, rows + 2))
    assert not [issue for row in read for issue in row.issues]
    assert not any("\r" in value for row in read for value in row.values)  # CRLF files


def test_pipeline_preview_and_full_mapping() -> None:
    preview = preview_file(DATA / "sales_pipeline.csv", target="deals")
    assert preview.suggested is not None and not preview.notes
    assert {name: rule.column for name, rule in preview.suggested.fields.items()} == {
        "external_id": "opportunity_id",
        "owner": "sales_agent",
        "product": "product",
        "company": "account",
        "stage": "deal_stage",
        "engaged_at": "engage_date",
        "close_date": "close_date",
        "amount": "close_value",
    }
    finder = DuplicateFinder(("external_id",))
    rules = Rules(now=datetime(2018, 1, 1, tzinfo=UTC))
    with open_table(DATA / "sales_pipeline.csv") as table:
        mapped = list(mapped_rows(table, preview.suggested, rules=rules, duplicates=finder))
    assert all(row.ok for row in mapped)
    by_stage: dict[str, int] = {}
    for row in mapped:
        by_stage[row.values["stage"]] = by_stage.get(row.values["stage"], 0) + 1
    assert by_stage == {"Won": 4238, "Lost": 2473, "Engaging": 1589, "Prospecting": 500}
    # The dataset's README: Prospecting rows carry no date at all, so no created date.
    prospects = [row for row in mapped if row.values["stage"] == "Prospecting"]
    assert all("created_at" not in row.values for row in prospects)
    engaged = [row for row in mapped if "engaged_at" in row.values]
    assert min(row.values["engaged_at"] for row in engaged) == date(2016, 10, 20)
    assert all(row.values["created_at"].date() == row.values["engaged_at"] for row in engaged)
    # Ids are unique; the README's 461 open rows that repeat another apart from the id are
    # not whole-row duplicates (their ids differ).
    report = finder.report()
    assert report.by_key["external_id"] == [] and report.whole_rows == []

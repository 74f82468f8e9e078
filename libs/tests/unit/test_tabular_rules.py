"""Consistency rules (deals' dates, future dates, the created date from the data),
duplicates judged on whole rows and on identity keys, and the targets' field lists."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest

from crm_tabular import (
    TARGETS,
    DuplicateFinder,
    Mapping,
    Rules,
    Severity,
    mapped_rows,
    open_table,
)
from crm_tabular.apply import MappedRow
from crm_tabular.rules import check_row
from crm_tabular.suggest import name_key

NOW = datetime(2018, 1, 1, 12, tzinfo=UTC)
DEALS = TARGETS["deals"]


def deal(**values: object) -> MappedRow:
    row = MappedRow(7, dict(values))
    check_row(DEALS, row, Rules(now=NOW))
    return row


def codes(row: MappedRow) -> dict[str, Severity]:
    return {issue.code: issue.severity for issue in row.issues}


def test_closed_before_engaged_is_an_error() -> None:
    row = deal(stage="won", engaged_at=date(2017, 5, 3), close_date=date(2017, 5, 1))
    assert codes(row) == {"closed_before_engaged": Severity.ERROR}
    issue = row.issues[0]
    assert issue.row == 7 and issue.field == "close_date" and issue.value == "2017-05-01"
    assert "closed on 2017-05-01, before it was engaged on 2017-05-03" in issue.reason


def test_closed_without_engage_date_warns_and_is_created_when_it_closed() -> None:
    row = deal(stage="Lost", close_date=date(2017, 5, 1))
    assert codes(row) == {"closed_without_engage_date": Severity.WARNING}
    assert row.ok
    assert row.values["created_at"] == datetime(2017, 5, 1, tzinfo=UTC)


def test_closed_without_close_date_and_future_dates() -> None:
    assert codes(deal(stage="closed won", engaged_at=date(2017, 1, 1))) == {
        "closed_without_close_date": Severity.ERROR
    }
    future = deal(stage="won", engaged_at=date(2017, 1, 1), close_date=date(2018, 3, 1))
    assert codes(future) == {"future_date": Severity.ERROR}
    # Within the tolerance (time zones): fine. An open deal may close in the future.
    assert codes(deal(stage="won", engaged_at=date(2017, 1, 1), close_date=date(2018, 1, 2))) == {}
    assert (
        codes(deal(stage="engaging", engaged_at=date(2017, 1, 1), close_date=date(2019, 1, 1)))
        == {}
    )
    assert codes(deal(stage="engaging", engaged_at=date(2019, 1, 1))) == {
        "future_date": Severity.ERROR
    }


def test_created_date_comes_from_the_data() -> None:
    given = datetime(2016, 12, 1, 9, tzinfo=UTC)
    row = deal(
        stage="won", created_at=given, engaged_at=date(2017, 1, 1), close_date=date(2017, 2, 1)
    )
    assert row.values["created_at"] == given and row.ok
    row = deal(stage="engaging", engaged_at=date(2017, 1, 1))
    assert row.values["created_at"] == datetime(2017, 1, 1, tzinfo=UTC)
    row = deal(stage="prospecting")
    assert "created_at" not in row.values  # no date in the data: the importer's time
    late = deal(
        stage="won",
        created_at=datetime(2017, 6, 1, tzinfo=UTC),
        engaged_at=date(2017, 1, 1),
        close_date=date(2017, 2, 1),
    )
    assert codes(late) == {"created_after_close": Severity.WARNING}


def test_severities_are_the_callers_choice() -> None:
    strict = Rules(now=NOW, closed_without_engage_date=Severity.ERROR)
    row = MappedRow(2, {"stage": "won", "close_date": date(2017, 1, 1)})
    check_row(DEALS, row, strict)
    assert not row.ok


def test_future_dates_on_other_targets() -> None:
    row = MappedRow(3, {"kind": "call", "occurred_at": datetime(2030, 1, 1, tzinfo=UTC)})
    check_row(TARGETS["interactions"], row, Rules(now=NOW))
    assert codes(row) == {"future_date": Severity.ERROR}
    assert row.issues[0].field == "occurred_at"


def test_rules_and_duplicates_in_one_pass() -> None:
    data = (
        b"id,stage,engaged,closed,note\n"
        b"A,won,2017-01-05,2017-01-01,x\n"  # closed before engaged
        b"B,engaging,2017-02-01,,y\n"
        b"B,engaging,2017-02-01,,y\n"  # the same row again (and the same id)
        b"C,engaging,2017-02-01,,y\n"  # same as B apart from the id
        b"c,lost,,2017-03-01,z\n"
    )
    mapping = Mapping.from_json(
        {
            "target": "deals",
            "fields": {
                "external_id": "id",
                "stage": "stage",
                "engaged_at": "engaged",
                "close_date": "closed",
            },
        }
    )
    finder = DuplicateFinder(DEALS.identity)
    with open_table(io.BytesIO(data)) as table:
        rows = list(mapped_rows(table, mapping, rules=Rules(now=NOW), duplicates=finder))
    assert [row.ok for row in rows] == [False, True, True, True, True]
    assert [i.code for i in rows[2].issues] == ["duplicate_row", "duplicate_key"]
    assert rows[2].issues[1].describe() == "external_id: 'B' is also in row 3"
    report = finder.report()
    assert [g.rows for g in report.whole_rows] == [[3, 4]]
    # C and c are different ids; rows 4 and 5 differ only in their id: no key duplicate.
    assert [(g.value, g.rows) for g in report.by_key["external_id"]] == [("B", [3, 4])]
    assert report.as_dict()["wholeRows"] == [{"rows": [3, 4], "key": None, "value": None}]


def test_identity_keys_are_normalised_and_judged_apart_from_whole_rows() -> None:
    finder = DuplicateFinder(("email", "domain"))
    seen = [
        finder.observe(2, ["Ann", "ann@x.com"], {"email": "ann@x.com", "domain": "x.com"}),
        finder.observe(3, ["ANN", "Ann@X.com"], {"email": "Ann@X.com"}),
        finder.observe(4, ["Bob", "b@y.com"], {"email": "b@y.com", "domain": "www.X.com"}),
        finder.observe(5, ["Ann ", " ann@x.com"], {}),
    ]
    assert [[i.code for i in found] for found in seen] == [
        [],
        ["duplicate_key"],
        ["duplicate_key"],
        ["duplicate_row"],  # the same cells once trimmed; its key columns were not mapped
    ]
    report = finder.report()
    assert [(g.key, g.value, g.rows) for g in report.by_key["email"]] == [
        ("email", "ann@x.com", [2, 3])
    ]
    assert [(g.value, g.rows) for g in report.by_key["domain"]] == [("x.com", [2, 4])]
    assert [g.rows for g in report.whole_rows] == [[2, 5]]


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_each_target_is_well_formed(target: str) -> None:
    spec = TARGETS[target]
    claimed: dict[str, str] = {}
    for field in spec.fields:
        assert field.doc and field.name == field.name.strip()
        for alias in (field.name, *field.aliases):
            owner = claimed.setdefault(name_key(alias), field.name)
            assert owner == field.name, f"{alias!r} suggests both {owner} and {field.name}"
    assert set(spec.identity) <= set(spec.by_name)
    assert spec.required

"""Export jobs on the in-memory store with the owners' export pages faked as the contract
describes them (`export_pages`): a file written page by page and stored in chunks, CSV and
XLSX reading back through crm_tabular, a filter the owner refuses named at once, an
attempt whose runner died never leaving a file marked done, cancel, expiry, and that an
export is its creator's alone."""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from crm_contracts.export_pages import ExportPageReply
from crm_imports.config import ExportSettings, RunSettings
from crm_imports.domain.export_job import CANCELLED, COMPLETED, FAILED, RUNNING
from crm_imports.entrypoints.export_runner import ExportRunner
from crm_imports.graphql.context import GraphQLContext
from crm_imports.graphql.schema import schema
from crm_imports.store.exports import Exports
from crm_imports.store.port import SinkRefused
from crm_imports.usecases import exporting, exports
from crm_imports.usecases.claims import Claims
from crm_imports.usecases.export_scope import ExportScope, export_scopes
from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, NotFound
from crm_kit.testing import GraphQLClient
from crm_tabular import RowMapper, open_table, preview_file

from .conftest import ADMIN, World

REP = RequestContext("w1", "rita", frozenset({"rep"}))
COLUMNS = ["external_id", "name", "domain", "tags", "id"]


@dataclass
class FakePages:
    """An owner with `rows` (as its list shows them to anyone), `after` = the next index."""

    rows: list[dict[str, Any]]
    callers: list[RequestContext] = field(default_factory=list)

    async def page(
        self,
        caller: RequestContext,
        record_type: str,
        filter: dict[str, Any],
        after: str | None,
        limit: int,
    ) -> ExportPageReply:
        if "color" in filter:
            raise SinkRefused("BAD_REQUEST", "filter.color: CompanyFilter has no field 'color'")
        self.callers.append(caller)
        start = int(after or 0)
        end = start + limit
        following = str(end) if end < len(self.rows) else None
        return ExportPageReply(
            columns=COLUMNS, rows=self.rows[start:end], after=following, total=len(self.rows)
        )


ROWS = [
    {"external_id": f"C{n}", "name": f"Company {n}", "domain": f"c{n}.example",
     "tags": ["a", "b"], "id": f"{n:024x}"}
    for n in range(7)
]  # fmt: skip
ROWS[3]["name"] = '=HYPERLINK("http://evil")'


class Exporting:
    def __init__(self, world: World, rows: list[dict[str, Any]] = ROWS) -> None:
        self.pages = FakePages(list(rows))
        self.now = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)
        self.store = Exports(world.db)
        self.scopes = export_scopes(
            self.store, self.pages, ExportSettings(page_rows=3), lambda: self.now
        )

    def scope(self, caller: RequestContext = ADMIN) -> ExportScope:
        return self.scopes(caller)

    async def file(self, export_id: str, caller: RequestContext = ADMIN) -> bytes:
        job = await exports.downloadable(self.scope(caller), export_id)
        return b"".join([part async for part in exports.file_parts(self.scope(caller), job)])


async def always() -> bool:
    return True


def read_back(data: bytes, suffix: str, target: str = "companies") -> list[dict[str, Any]]:
    """The file's rows as an import maps them with the suggested mapping."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"export{suffix}"
        path.write_bytes(data)
        suggested = preview_file(path, target=target).suggested
        assert suggested is not None
        with open_table(path) as table:
            mapper = RowMapper(suggested, table.header)
            return [mapper.map(row).values for row in table.rows()]


async def test_a_csv_export_is_written_page_by_page_and_reads_back(world: World) -> None:
    ex = Exporting(world)
    job = await exports.create(ex.scope(), "companies", {"industry": "tech"}, "csv")
    assert job.total == 7  # the owner counted it when the filter was checked
    done = await exporting.run(ex.scope(), job.id, always)
    assert done is not None and done.status == COMPLETED
    assert (done.rows_written, done.total, done.fraction) == (7, 7, 1.0)
    assert done.file_name == "companies-20260302-140500.csv"
    assert done.expires_at == ex.now + timedelta(days=7)
    # Every page was read as the person who asked, with the filter as given.
    assert {c.subject for c in ex.pages.callers} == {"ann"}
    data = await ex.file(job.id)
    assert data.startswith(b"\xef\xbb\xbfexternal_id,name,domain,tags,id\r\n")
    assert b"'=HYPERLINK" in data  # a formula is written as text
    values = read_back(data, ".csv")
    assert [v["external_id"] for v in values] == [f"C{n}" for n in range(7)]
    assert values[3]["name"] == '=HYPERLINK("http://evil")'
    assert values[0]["domain"] == "c0.example" and values[0]["tags"] == ["a", "b"]


async def test_an_xlsx_export_reads_back_the_same(world: World) -> None:
    ex = Exporting(world)
    job = await exports.create(ex.scope(), "companies", None, "xlsx")
    await exporting.run(ex.scope(), job.id, always)
    data = await ex.file(job.id)
    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    assert sheet is not None and sheet.title == "companies"
    values = read_back(data, ".xlsx")
    assert [v["name"] for v in values][:3] == ["Company 0", "Company 1", "Company 2"]
    assert len(values) == 7


async def test_an_xlsx_export_holds_characters_a_worksheet_cannot(world: World) -> None:
    # A control character typed or imported into a record once stopped every XLSX export
    # of it (openpyxl refuses it); the cell now shows U+FFFD in its place.
    rows = [dict(row) for row in ROWS]
    rows[1]["name"] = "Acme\x00\x07 GmbH\ufffe"
    ex = Exporting(world, rows)
    job = await exports.create(ex.scope(), "companies", None, "xlsx")
    done = await exporting.run(ex.scope(), job.id, always)
    assert done is not None and done.status == COMPLETED
    values = read_back(await ex.file(job.id), ".xlsx")
    assert values[1]["name"] == "Acme\ufffd\ufffd GmbH\ufffd" and len(values) == 7


async def test_an_export_that_keeps_hitting_a_bug_fails_after_its_attempts(world: World) -> None:
    ex = Exporting(world)
    job = await exports.create(ex.scope(), "companies", None, "csv")
    runner = ExportRunner(
        Claims(ex.store.active_exports, ex.store.for_workspace),
        ex.scopes,
        RunSettings(lease_seconds=60.0, max_attempts=3),
        clock=lambda: ex.now,
    )

    async def broken(*args: Any) -> ExportPageReply:
        raise RuntimeError("a bug")

    ex.pages.page = broken  # type: ignore[method-assign]

    async def attempt() -> Any:
        await runner.poll()
        await runner.settle()
        ex.now += timedelta(seconds=121)  # the lease lapsed: the job may be taken up again
        return await exports.get(ex.scope(), job.id)

    for tried in (1, 2):
        found = await attempt()
        assert (found.status, found.crashes, found.error) == (RUNNING, tried, None)
    failed = await attempt()
    assert (failed.status, failed.crashes, failed.attempt) == (FAILED, 3, 3)
    assert "unexpected error 3 times (last: RuntimeError)" in failed.error
    assert (await attempt()).attempt == 3  # a failed export is not taken up again


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_custom_fields_of_any_page_get_a_column_and_read_back(world: World, fmt: str) -> None:
    # The keys only the last page holds still make a column: the header waits for them.
    rows = [dict(row) for row in ROWS]
    rows[0]["custom.tier"] = "gold"
    rows[6].update({"custom.seats": 40, "custom.regions": '["EMEA", "APAC"]'})
    rows[5]["custom.Deal size (USD)"] = 12.5  # a key as people head a column
    rows[5]["custom.not.a.key"] = "dropped"  # a path, not a key: no import could read it back
    ex = Exporting(world, rows)
    job = await exports.create(ex.scope(), "companies", None, fmt)
    done = await exporting.run(ex.scope(), job.id, always)
    assert done is not None and done.status == COMPLETED and done.rows_written == 7
    data = await ex.file(job.id)
    if fmt == "csv":
        header = data.decode("utf-8-sig").split("\r\n", 1)[0]
        assert header == (
            "external_id,name,domain,tags,id,"
            "custom.Deal size (USD),custom.regions,custom.seats,custom.tier"
        )
    values = read_back(data, f".{fmt}")
    assert values[0]["custom.tier"] == "gold"
    assert "custom.tier" not in values[1]  # an empty cell sets nothing
    assert values[6]["custom.seats"] == 40  # a number reads back as a number
    assert values[6]["custom.regions"] == ["EMEA", "APAC"]  # a JSON list reads back as one
    assert values[5]["custom.Deal size (USD)"] == 12.5
    assert all("custom.not.a.key" not in v for v in values)


async def test_a_refused_filter_is_named_at_once_and_nothing_is_queued(world: World) -> None:
    ex = Exporting(world)
    with pytest.raises(BadUserInput) as refused:
        await exports.create(ex.scope(), "companies", {"color": "red"}, "csv")
    assert refused.value.field == "filter.color"
    for args, where in (
        (("lamps", {}, "csv"), "recordType"),
        (("companies", {}, "pdf"), "format"),
        (("companies", ["x"], "csv"), "filter"),
    ):
        with pytest.raises(BadUserInput) as bad:
            await exports.create(ex.scope(), *args)  # type: ignore[arg-type]
        assert bad.value.field == where
    assert (await exports.listed(ex.scope(), None, None)).items == []


async def test_a_runner_that_dies_leaves_no_file_and_the_next_attempt_starts_over(
    world: World,
) -> None:
    ex = Exporting(world)
    job = await exports.create(ex.scope(), "companies", {}, "csv")
    held = iter([True, False])  # the lease is lost after the first page

    async def holds() -> bool:
        return next(held)

    assert await exporting.run(ex.scope(), job.id, holds) is None
    stalled = await exports.get(ex.scope(), job.id)
    assert (stalled.status, stalled.attempt, stalled.rows_written) == (RUNNING, 1, 3)
    assert stalled.file_id is None
    with pytest.raises(NotFound):
        await exports.downloadable(ex.scope(), job.id)
    done = await exporting.run(ex.scope(), job.id, always)
    assert done is not None and (done.status, done.attempt, done.rows_written) == (
        COMPLETED,
        2,
        7,
    )
    assert len(read_back(await ex.file(job.id), ".csv")) == 7


async def test_cancel_stops_an_export_before_its_next_page(world: World) -> None:
    ex = Exporting(world)
    queued = await exports.create(ex.scope(), "companies", {}, "csv")
    assert (await exports.cancel(ex.scope(), queued.id)).status == CANCELLED
    assert await exporting.run(ex.scope(), queued.id, always) is None
    running_job = await exports.create(ex.scope(), "companies", {}, "csv")
    calls = 0

    async def cancel_after_first_page() -> bool:
        nonlocal calls
        calls += 1
        if calls == 2:
            await exports.cancel(ex.scope(), running_job.id)
        return True

    ended = await exporting.run(ex.scope(), running_job.id, cancel_after_first_page)
    assert ended is not None and ended.status == CANCELLED and ended.file_id is None


async def test_an_export_is_its_creators_alone_and_expires(world: World) -> None:
    ex = Exporting(world)
    job = await exports.create(ex.scope(REP), "companies", {}, "csv")
    await exporting.run(ex.scope(REP), job.id, always)
    assert len(read_back(await ex.file(job.id, REP), ".csv")) == 7  # any role exports
    for other in (ADMIN, RequestContext("w1", "otto", frozenset({"rep"}))):
        with pytest.raises(NotFound):
            await exports.get(ex.scope(other), job.id)
        with pytest.raises(NotFound):
            await ex.file(job.id, other)
    client = GraphQLClient.in_process(
        schema,
        lambda caller: GraphQLContext(scope=world.scopes(caller), exports=ex.scopes(caller)),
        "w1",
        "rita",
        "rep",
    )
    query = "query($id: ID!) { exportJob(id: $id) { status rowsWritten fileName downloadUrl } }"
    found = await client.data(query, {"id": job.id})
    assert found["exportJob"] == {
        "status": "COMPLETED",
        "rowsWritten": 7,
        "fileName": "companies-20260302-140500.csv",
        "downloadUrl": f"/exports/{job.id}/file",
    }
    ex.now += timedelta(days=8)
    expired = await client.data(query, {"id": job.id})
    assert expired["exportJob"]["downloadUrl"] is None
    with pytest.raises(NotFound):
        await ex.file(job.id, REP)


async def test_create_export_through_graphql_names_a_bad_filter(world: World) -> None:
    ex = Exporting(world)
    client = GraphQLClient.in_process(
        schema,
        lambda caller: GraphQLContext(scope=world.scopes(caller), exports=ex.scopes(caller)),
        "w1",
        "viv",
        "viewer",
    )
    error = await client.error(
        'mutation { createExport(recordType: COMPANIES, filter: {color: "red"}) { id } }'
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "filter.color"
    made = await client.data(
        "mutation { createExport(recordType: COMPANIES, format: XLSX) { status format total } }"
    )
    assert made["createExport"] == {"status": "QUEUED", "format": "XLSX", "total": 7}


async def test_a_list_longer_than_a_sheet_fails_as_xlsx_with_the_reason(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exporting, "XLSX_MAX_ROWS", 5)
    ex = Exporting(world)
    job = await exports.create(ex.scope(), "companies", {}, "xlsx")
    ended = await exporting.run(ex.scope(), job.id, always)
    assert ended is not None and ended.status == "failed" and ended.file_id is None
    assert ended.error == "more than 5 rows do not fit an XLSX: export as CSV"

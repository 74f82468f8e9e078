"""Imports run end to end through the gateway against the REAL record owners: the rows go
to `rpc.contacts.import_companies.write` / `import_contacts.write` (the contract in
`crm_contracts.import_batches`, served by the contacts service) and the records appear in
the ordinary API. Dry-run counts equal the real run's; a second import of the same file
adds nothing; a malformed row is reported by row and column while the others import;
duplicates are reported on whole rows and on identity keys apart; progress is live; undo
removes what the import created.

These need the owners' import endpoints (branch `import-sinks`): on a branch without them
the runs fail with "the companies service did not answer"."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ..conftest import Stack
from .helpers import new_workspace
from .imports_client import Importer
from .live_clients import SseClient

pytestmark = pytest.mark.e2e

MAP = """mutation($id: ID!, $m: JSON!, $on: ImportOnExisting!) {
  setImportMapping(jobId: $id, mapping: $m, onExisting: $on) { status } }"""
START = (
    """mutation($id: ID!, $dry: Boolean!) { startImport(jobId: $id, dryRun: $dry) { status } }"""
)
UNDO = """mutation($id: ID!) { undoImport(jobId: $id) { status removed } }"""
COMPANIES = """query($t: String) { companies(filter: {text: $t}, first: 100) {
  totalCount edges { node { name domain } } } }"""
LIVE = """subscription($id: ID!) { importJobChanged(id: $id) { status progress { rowsRead } } }"""
IMPORTABLE = [
    "utf8-bom-comma.csv",
    "utf16-tab.csv",
    "cp1252-semicolon.csv",
    "pipe.csv",
    "quoted-newlines-crlf.csv",
    "companies.xlsx",
    "report-export.xlsx",
]


@pytest.fixture
async def importer(stack: Stack) -> Importer:
    async with httpx.AsyncClient(timeout=120.0) as http:
        yield Importer(http, stack.gateway_url, new_workspace())


def counts(progress: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in progress.items() if k != "fraction"}


async def run(
    importer: Importer, job: dict[str, Any], dry_run: bool, on_existing: str = "SKIP"
) -> dict[str, Any]:
    mapping = job["preview"]["suggestedMapping"]
    await importer.data(MAP, {"id": job["id"], "m": mapping, "on": on_existing})
    await importer.data(START, {"id": job["id"], "dry": dry_run})
    return await importer.ended(job["id"])


@pytest.mark.parametrize("name", IMPORTABLE)
async def test_a_dry_run_then_the_run_then_an_undo(importer: Importer, name: str) -> None:
    job = await importer.fixture(name)
    dry = await run(importer, job, True)
    assert dry["status"] == "COMPLETED", dry
    assert (await importer.data(COMPANIES, {"t": None}))["companies"]["totalCount"] == 0
    done = await run(importer, job, False)
    assert done["status"] == "COMPLETED", done
    assert counts(done["progress"]) == done["dryRunResult"]
    assert done["progress"]["created"] == 3 and done["progress"]["failed"] == 0
    found = (await importer.data(COMPANIES, {"t": None}))["companies"]
    expected = (
        {"Acme Corp", 'Beta "The Best" Ltd', "Gamma"}
        if name == "quoted-newlines-crlf.csv"
        else {"Acme Corp", "Brüder Müller GmbH", "Café Élan"}
    )
    assert {e["node"]["name"] for e in found["edges"]} == expected
    undone = (await importer.data(UNDO, {"id": job["id"]}))["undoImport"]
    assert undone == {"status": "UNDONE", "removed": 3}
    assert (await importer.data(COMPANIES, {"t": None}))["companies"]["totalCount"] == 0


async def test_a_report_footer_is_refused_row_by_row_not_imported(importer: Importer) -> None:
    job = await run(importer, await importer.fixture("report-footer.csv"), False)
    assert job["status"] == "COMPLETED", job
    assert (job["progress"]["created"], job["progress"]["failed"]) == (3, 5)
    codes = {(e["node"]["row"], e["node"]["code"]) for e in job["issues"]["edges"]}
    assert codes == {(row, "footer_row") for row in (6, 8, 9, 10, 11)}
    names = (await importer.data(COMPANIES, {"t": None}))["companies"]["edges"]
    assert {e["node"]["name"] for e in names} == {"Acme", "Globex", "Initech"}


async def test_the_same_file_again_adds_nothing(importer: Importer) -> None:
    first = await run(importer, await importer.fixture("utf8-bom-comma.csv"), False)
    assert first["progress"]["created"] == 3
    again = await run(importer, await importer.fixture("utf8-bom-comma.csv"), False)
    assert again["status"] == "COMPLETED"
    assert again["progress"]["created"] == 0 and again["progress"]["skipped"] == 3
    assert (await importer.data(COMPANIES, {"t": None}))["companies"]["totalCount"] == 3


async def test_a_malformed_row_is_reported_and_the_others_import(importer: Importer) -> None:
    done = await run(importer, await importer.fixture("malformed-row.csv"), False)
    assert done["status"] == "COMPLETED"
    progress = done["progress"]
    assert progress["rowsRead"] == 4 and progress["failed"] == 2 and progress["created"] == 2
    issues = [e["node"] for e in done["issues"]["edges"]]
    assert any(
        i["row"] == 3 and i["code"] == "too_many_fields" and i["column"] == "column 6"
        for i in issues
    )
    assert any(i["row"] == 4 and i["code"] == "too_few_fields" for i in issues)
    names = {
        e["node"]["name"]
        for e in (await importer.data(COMPANIES, {"t": None}))["companies"]["edges"]
    }
    assert names == {"Acme Corp", "Delta"}


async def test_duplicates_are_reported_on_whole_rows_and_keys_apart(importer: Importer) -> None:
    done = await run(importer, await importer.fixture("duplicates.csv"), True)
    report = done["duplicates"]
    assert [g["rows"] for g in report["wholeRows"]["groups"]] == [[2, 3]]
    by_key = {k["key"]: [g["rows"] for g in k["duplicates"]["groups"]] for k in report["byKey"]}
    assert by_key["external_id"] == [[2, 3]]
    assert by_key["domain"] == [[2, 3, 4]]


async def test_contacts_with_their_company_by_name(importer: Importer) -> None:
    await run(importer, await importer.fixture("utf8-bom-comma.csv"), False)
    content = (
        "First name,Last name,Email,Company\n"
        "Ann,Archer,ann@acme.example,Acme Corp\n"
        "Bob,Baker,bob@elan.example,Café Élan\n"
    ).encode()
    job = (await importer.create(content, "contacts.csv", "CONTACTS"))["data"]["createImport"]
    done = await run(importer, job, False)
    assert done["status"] == "COMPLETED" and done["progress"]["created"] == 2, done
    contacts = await importer.data(
        "{ contacts(first: 10) { edges { node { email company { name } } } } }"
    )
    found = {e["node"]["email"]: e["node"]["company"] for e in contacts["contacts"]["edges"]}
    assert found["ann@acme.example"] == {"name": "Acme Corp"}


async def test_dry_run_counts_equal_the_real_runs_on_a_generated_file(
    importer: Importer,
) -> None:
    lines = ["Company ID,Name,Domain,Employees"]
    for n in range(3000):
        staff = "lots" if n % 97 == 0 else str(n % 300)
        name = "" if n % 211 == 0 else f"Company {n}"
        lines.append(f"G{n % 2900},{name},g{n}.example,{staff}")
    content = ("\n".join(lines) + "\n").encode()
    job = (await importer.create(content, "generated.csv"))["data"]["createImport"]
    dry = await run(importer, job, True)
    real = await run(importer, job, False)
    assert real["status"] == "COMPLETED" and dry["status"] == "COMPLETED"
    assert counts(real["progress"]) == real["dryRunResult"]
    assert real["progress"]["rowsRead"] == 3000 and real["progress"]["failed"] > 0


async def test_progress_is_live(importer: Importer, stack: Stack) -> None:
    job = await importer.fixture("cp1252-semicolon.csv")
    mapping = job["preview"]["suggestedMapping"]
    await importer.data(MAP, {"id": job["id"], "m": mapping, "on": "SKIP"})
    token = importer.headers["Authorization"].removeprefix("Bearer ")
    live = await SseClient.subscribe(stack.gateway_url, token, LIVE, {"id": job["id"]})
    try:
        await importer.data(START, {"id": job["id"], "dry": False})
        statuses: list[str] = []
        while not statuses or statuses[-1] not in ("COMPLETED", "FAILED", "CANCELLED"):
            result = await live.next(90.0)
            statuses.append(result["data"]["importJobChanged"]["status"])
        assert statuses[0] in ("QUEUED", "RUNNING") and statuses[-1] == "COMPLETED", statuses
    finally:
        await live.close()


async def test_custom_columns_keep_their_types_and_a_bad_name_is_not_taken(
    importer: Importer,
) -> None:
    content = (
        b"name,domain,custom.score,custom.Region (HQ),custom.a.b\n"
        b"Acme,acme.example,4.5,EMEA,x\n"
        b"Bolt,bolt.example,7,APAC,oops\n"
    )
    body = await importer.create(content, "custom.csv")
    assert not body.get("errors"), body
    job = body["data"]["createImport"]
    # `a.b` would be a path inside the record, not a field: never suggested, and refused
    # when a mapping names it.
    assert "custom.a.b" in job["preview"]["unmappedColumns"]
    mapping = job["preview"]["suggestedMapping"]
    wrong = {**mapping, "fields": {**mapping["fields"], "custom.a.b": {"column": "custom.a.b"}}}
    refused = await importer.gql(MAP, {"id": job["id"], "m": wrong, "on": "SKIP"})
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", refused
    assert "custom.a.b" in refused["errors"][0]["extensions"]["field"], refused
    done = await run(importer, job, False)
    assert done["status"] == "COMPLETED" and done["progress"]["created"] == 2
    found = await importer.data("{ companies(first: 10) { edges { node { name customFields } } } }")
    custom = {e["node"]["name"]: e["node"]["customFields"] for e in found["companies"]["edges"]}
    assert custom == {
        "Acme": {"score": 4.5, "Region (HQ)": "EMEA"},
        "Bolt": {"score": 7, "Region (HQ)": "APAC"},
    }

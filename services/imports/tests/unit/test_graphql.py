"""The imports subgraph in process: a job through GraphQL with its preview and progress,
mapping errors as BAD_USER_INPUT naming `mapping.<place>`, refusals by role, templates."""

from __future__ import annotations

from crm_imports.usecases import running

from .conftest import World

CREATE = """mutation($file: Upload!) { createImport(file: $file, recordType: COMPANIES) {
  id status preview { encoding delimiter header suggestedMapping
  columns { name type } rows { row values } } } }"""
MAP = """mutation($id: ID!, $m: JSON!) { setImportMapping(jobId: $id, mapping: $m,
  onExisting: UPDATE, defaultCurrency: "eur") { status onExisting defaultCurrency mapping } }"""
START = """mutation($id: ID!, $dry: Boolean!) { startImport(jobId: $id, dryRun: $dry) {
  status dryRun } }"""
JOB = """query($id: ID!) { importJob(id: $id) { status dryRun
  progress { rowsRead created failed fraction } dryRunResult { created failed }
  issues(first: 10) { totalCount edges { node { row column value code message } } }
  duplicates { wholeRows { total } byKey { key duplicates { total } } } } }"""

CSV = b"Name,Domain\nAcme,acme.example\nBeta,\nAcme,acme.example\n"


async def always() -> bool:
    return True


async def test_a_job_through_graphql(world: World) -> None:
    admin = world.client()
    upload = await world.upload(CSV)
    job = (await admin.data(CREATE, {"file": upload}))["createImport"]
    assert job["status"] == "DRAFT"
    assert job["preview"]["header"] == ["Name", "Domain"]
    assert job["preview"]["rows"][0] == {"row": 2, "values": ["Acme", "acme.example"]}
    mapping = job["preview"]["suggestedMapping"]
    mapped = (await admin.data(MAP, {"id": job["id"], "m": mapping}))["setImportMapping"]
    assert mapped["status"] == "READY" and mapped["defaultCurrency"] == "EUR"
    started = (await admin.data(START, {"id": job["id"], "dry": True}))["startImport"]
    assert started == {"status": "QUEUED", "dryRun": True}
    await running.run(world.scope(), job["id"], always)
    done = (await admin.data(JOB, {"id": job["id"]}))["importJob"]
    assert done["status"] == "COMPLETED"
    assert done["progress"] == {"rowsRead": 3, "created": 3, "failed": 0, "fraction": 1.0}
    assert done["dryRunResult"] == {"created": 3, "failed": 0}
    assert done["duplicates"]["wholeRows"]["total"] == 1
    keys = {k["key"]: k["duplicates"]["total"] for k in done["duplicates"]["byKey"]}
    assert keys["domain"] == 1
    assert done["issues"]["totalCount"] == 2  # the repeat: whole row and domain warnings


async def test_errors_carry_code_and_field(world: World) -> None:
    admin = world.client()
    upload = await world.upload(CSV)
    job = (await admin.data(CREATE, {"file": upload}))["createImport"]
    bad = await admin.error(
        MAP, {"id": job["id"], "m": {"target": "companies", "fields": {"name": "Nmae"}}}
    )
    assert bad["extensions"]["code"] == "BAD_USER_INPUT"
    assert bad["extensions"]["field"] == "mapping.fields.name.column"
    assert "did you mean 'Name'" in bad["message"]
    rep = world.client("rep", "rita")
    refused = await rep.error(JOB, {"id": job["id"]})
    assert refused["extensions"]["code"] == "FORBIDDEN"
    missing = await admin.error(CREATE, {"file": "nope"})
    assert missing["extensions"] == {"code": "NOT_FOUND", "field": "file"}


async def test_templates_through_graphql(world: World) -> None:
    admin = world.client("manager", "max")
    save = """mutation($m: JSON!) { saveImportTemplate(name: "Ours", recordType: COMPANIES,
      mapping: $m) { id name recordType } }"""
    mapping = {"target": "companies", "fields": {"name": "Name"}}
    saved = (await admin.data(save, {"m": mapping}))["saveImportTemplate"]
    listed = (await admin.data("{ importTemplates { id name mapping } }"))["importTemplates"]
    assert listed == [
        {
            "id": saved["id"],
            "name": "Ours",
            "mapping": mapping | {"fields": {"name": {"column": "Name"}}, "timezone": "UTC"},
        }
    ]

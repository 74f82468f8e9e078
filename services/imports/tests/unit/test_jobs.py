"""Import jobs on the in-memory store with the owners faked: the preview of an uploaded
file, mapping errors naming their place, dry and real runs with equal counts, row issues
naming row, column, value and reason, a run resumed from its checkpoint creating nothing
twice, cancel, undo, templates, and who may do what."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_contracts import imports as contract
from crm_contracts.imports import UploadManifest
from crm_imports.config import RunSettings
from crm_imports.domain.job import COMPLETED, FAILED, RUNNING
from crm_imports.entrypoints.runner import JobRunner
from crm_imports.usecases import jobs, running, templates, uploads
from crm_imports.usecases.claims import Claims
from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, Forbidden, PreconditionFailed

from .conftest import ADMIN, World, _parts

CSV = (
    "Company;Domain;Staff;Id\r\n"
    "Acme;acme.example;12;A1\r\n"
    "Beta;beta.example;lots;B2\r\n"
    "Gamma;gamma.example;7;C3\r\n"
    "Acme;acme.example;12;A1\r\n"
    "Refused;r.example;1;D4\r\n"
).encode("cp1252")

MAPPING: dict[str, Any] = {
    "target": "companies",
    "fields": {"name": "Company", "domain": "Domain", "size": "Staff", "external_id": "Id"},
}


async def always() -> bool:
    return True


async def _job(world: World, data: bytes = CSV, kind: str = "companies") -> str:
    upload = await world.upload(data)
    job = await jobs.create(world.scope(), upload, kind)
    return job.id


async def _run(world: World, job_id: str, dry_run: bool) -> Any:
    await jobs.start(world.scope(), job_id, dry_run)
    return await running.run(world.scope(), job_id, always)


async def test_a_stored_upload_is_chunked_and_must_match_its_manifest(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads, "CHUNK_BYTES", 10)
    upload_id = await world.upload(CSV)
    stored = await world.store.for_workspace("w1").upload(upload_id)
    assert stored is not None and stored.complete and stored.chunks == -(-len(CSV) // 10)
    async with uploads.spooled(world.scope(), stored) as path:
        assert path.read_bytes() == CSV
    wrong = UploadManifest(file_name="x.csv", size=len(CSV), sha256="0" * 64)
    with pytest.raises(BadUserInput) as refused:
        await uploads.receive(world.scope(), wrong, _parts(CSV))
    assert refused.value.field == "file"
    # Nothing of the refused body is kept.
    assert len(world.db.collections["upload_chunks"]) == stored.chunks


async def test_the_preview_says_how_the_file_was_read(world: World) -> None:
    job = await jobs.get(world.scope(), await _job(world))
    preview = job.preview
    assert (preview["encoding"], preview["delimiter"]) == ("utf-8", ";")
    assert preview["header"] == ["Company", "Domain", "Staff", "Id"]
    assert preview["suggestedMapping"]["fields"]["name"] == {"column": "Company"}
    assert [e.type for e in world.db.events_of_type(contract.JOB_CREATED)] == [contract.JOB_CREATED]


async def test_a_file_that_is_no_table_is_refused_naming_the_file(world: World) -> None:
    for data in (b"", b"Name,Domain\r\n"):
        upload = await world.upload(data)
        with pytest.raises(BadUserInput) as refused:
            await jobs.create(world.scope(), upload, "companies")
        assert refused.value.field == "file"
        assert refused.value.extensions["reason"] in ("EMPTY_FILE", "NO_DATA_ROWS")


async def test_mapping_errors_name_their_place(world: World) -> None:
    job_id = await _job(world)
    bad = {"target": "companies", "fields": {"name": "Compnay", "size": {"constant": "lots"}}}
    with pytest.raises(BadUserInput) as refused:
        await jobs.set_mapping(world.scope(), job_id, bad)
    places = [p["path"] for p in refused.value.extensions["problems"]]
    assert refused.value.field == f"mapping.{places[0]}"
    assert "fields.size.constant" in places
    with pytest.raises(BadUserInput) as header:
        await jobs.set_mapping(world.scope(), job_id, {**MAPPING, "fields": {"name": "Compnay"}})
    assert header.value.field == "mapping.fields.name.column"
    with pytest.raises(BadUserInput) as other:
        await jobs.set_mapping(world.scope(), job_id, {"target": "deals", "fields": {}})
    assert other.value.field.startswith("mapping.")
    with pytest.raises(PreconditionFailed):
        await jobs.start(world.scope(), job_id, True)  # no mapping yet


async def test_dry_run_counts_equal_the_real_runs_and_issues_name_row_column_value(
    world: World,
) -> None:
    job_id = await _job(world)
    await jobs.set_mapping(world.scope(), job_id, MAPPING)
    world.sinks.existing_keys.add("C3")
    dry = await _run(world, job_id, True)
    assert dry.status == COMPLETED and world.sinks.records == {}
    real = await _run(world, job_id, False)
    assert real.status == COMPLETED
    assert real.counts == dry.counts == real.dry_run_counts
    counts = real.counts.as_dict()
    # Beta fails here (Staff), Refused at the owner; Gamma exists; Acme twice (same row id
    # derivation differs per row: the owner decides, the report warns).
    assert counts == {
        "rows_read": 5,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "skipped": 1,
        "failed": 2,
        "warnings": 1,
    }
    assert len(world.sinks.records) == 2
    page, _ = await _issues(world, real)
    staff = next(i for i in page if i.code == "bad_value")
    assert (staff.row, staff.column, staff.value) == (3, "Staff", "lots")
    assert any(i.row == 6 and i.code == "BAD_USER_INPUT" for i in page)
    assert real.duplicates is not None
    assert real.duplicates["wholeRows"]["groups"][0]["rows"] == [2, 5]
    assert real.duplicates["byKey"]["external_id"]["groups"][0]["rows"] == [2, 5]
    with pytest.raises(PreconditionFailed):
        await jobs.start(world.scope(), job_id, False)  # ran already


async def _issues(world: World, job: Any) -> tuple[list[Any], list[str]]:
    from crm_imports.usecases import issues

    page, cursors = await issues.of_job(world.scope(), job, 2, None)
    found = list(page.items)
    while page.has_next:
        page, more = await issues.of_job(world.scope(), job, 2, cursors[-1])
        found.extend(page.items)
        cursors = more
    return found, cursors


async def test_a_run_stopped_between_batches_resumes_without_doubling(world: World) -> None:
    job_id = await _job(world)
    await jobs.set_mapping(world.scope(), job_id, MAPPING)
    await jobs.start(world.scope(), job_id, False)
    calls = 0

    async def lost_after_first_batch() -> bool:
        nonlocal calls
        calls += 1
        return calls == 1

    stopped = await running.run(world.scope(), job_id, lost_after_first_batch)
    assert stopped is None
    held = await jobs.get(world.scope(), job_id)
    assert held.status == RUNNING and held.next_row == 4 and held.counts.rows_read == 2
    done = await running.run(world.scope(), job_id, always)
    assert done is not None and done.status == COMPLETED
    assert done.counts.rows_read == 5 and done.counts.created == 3
    sent = [row.row for batch in world.sinks.batches for row in batch.rows]
    assert sorted(sent) == sorted(set(sent)) == [2, 4, 5, 6]


async def test_an_owner_that_stays_down_fails_the_run_with_the_reason(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(running, "SINK_BACKOFF_SECONDS", (0.0,) * 6)
    job_id = await _job(world)
    await jobs.set_mapping(world.scope(), job_id, MAPPING)
    world.sinks.unavailable = 2  # comes back within the tries
    done = await _run(world, job_id, False)
    assert done.status == COMPLETED
    job2 = await _job(world)
    await jobs.set_mapping(world.scope(), job2, MAPPING)
    world.sinks.unavailable = 100
    failed = await _run(world, job2, False)
    assert failed.status == FAILED and "did not answer" in failed.error


async def test_a_run_that_keeps_hitting_a_bug_fails_after_its_attempts(world: World) -> None:
    job_id = await _job(world)
    await jobs.set_mapping(world.scope(), job_id, MAPPING)
    await jobs.start(world.scope(), job_id, False)
    now = [datetime(2026, 12, 1, tzinfo=UTC)]
    settings = RunSettings(batch_rows=2, lease_seconds=60.0, max_attempts=3)
    runner = JobRunner(
        Claims(world.store.active_jobs, world.store.for_workspace),
        world.scopes,
        settings,
        clock=lambda: now[0],
    )
    world.sinks.broken = 100

    async def attempt() -> Any:
        await runner.poll()
        await runner.settle()
        now[0] += timedelta(seconds=121)  # the lease lapsed: the job may be taken up again
        return await jobs.get(world.scope(), job_id)

    for tried in (1, 2):
        job = await attempt()
        assert (job.status, job.crashes, job.error) == (RUNNING, tried, None)
    failed = await attempt()
    assert failed.status == FAILED and failed.crashes == 3
    assert "unexpected error 3 times (last: RuntimeError)" in failed.error
    await attempt()  # a failed job is not taken up again
    assert len(world.sinks.batches) == 0 and world.sinks.broken == 100 - 3
    # Started again, the run resumes and the count starts afresh.
    world.sinks.broken = 1
    await jobs.start(world.scope(), job_id, False)
    assert (await attempt()).crashes == 1
    done = await attempt()
    assert (done.status == COMPLETED and done.crashes == 0) or done.counts.created == 3


async def test_companies_are_matched_by_name_when_the_mapping_gives_no_domain(
    world: World,
) -> None:
    job_id = await _job(world)
    no_domain = {"target": "companies", "fields": {"name": "Company", "external_id": "Id"}}
    await jobs.set_mapping(world.scope(), job_id, no_domain)
    done = await _run(world, job_id, False)
    assert done.status == COMPLETED
    assert {batch.match_by_name for batch in world.sinks.batches} == {True}
    # The file's rows repeating a name are duplicates of the first within the file too.
    assert done.duplicates["byKey"]["name"]["groups"][0]["rows"] == [2, 5]
    world.sinks.batches.clear()
    await jobs.set_mapping(world.scope(), job_id, MAPPING)  # maps the domain: off
    await _run(world, job_id, False)
    assert {batch.match_by_name for batch in world.sinks.batches} == {False}


async def test_cancel_and_undo(world: World) -> None:
    job_id = await _job(world)
    await jobs.set_mapping(world.scope(), job_id, MAPPING)
    queued = await jobs.start(world.scope(), job_id, False)
    assert queued.status == "queued"
    cancelled = await jobs.cancel(world.scope(), job_id)
    assert cancelled.status == "cancelled" and world.sinks.batches == []
    done = await _run(world, job_id, False)
    assert done.counts.created == 3 and len(world.sinks.records) == 3
    undone = await jobs.undo(world.scope(), job_id)
    assert undone.status == "undone" and undone.removed == 3 and world.sinks.records == {}
    with pytest.raises(PreconditionFailed):
        await jobs.undo(world.scope(), job_id)


async def test_a_running_job_stops_at_its_next_batch_when_cancelled(world: World) -> None:
    job_id = await _job(world)
    await jobs.set_mapping(world.scope(), job_id, MAPPING)
    await jobs.start(world.scope(), job_id, False)
    batches = 0

    async def cancel_after_one() -> bool:
        nonlocal batches
        batches += 1
        if batches == 2:
            await jobs.cancel(world.scope(), job_id)
        return True

    stopped = await running.run(world.scope(), job_id, cancel_after_one)
    assert stopped is not None and stopped.status == "cancelled"
    assert stopped.counts.rows_read == 2 and len(world.sinks.batches) == 1


async def test_only_admins_and_managers_import(world: World) -> None:
    rep = RequestContext("w1", "rita", frozenset({"rep"}))
    with pytest.raises(Forbidden):
        await world.upload(CSV, caller=rep)
    job_id = await _job(world)
    with pytest.raises(Forbidden):
        await jobs.get(world.scope(rep), job_id)
    manager = RequestContext("w1", "max", frozenset({"manager"}))
    # An upload is its uploader's: another person cannot start an import of it.
    upload = await world.upload(CSV)
    with pytest.raises(Exception) as refused:
        await jobs.create(world.scope(manager), upload, "companies")
    assert getattr(refused.value, "field", None) == "file"
    other_workspace = RequestContext("w2", "ann", frozenset({"admin"}))
    with pytest.raises(Exception) as hidden:
        await jobs.get(world.scope(other_workspace), job_id)
    assert getattr(hidden.value, "code", None) == "NOT_FOUND"


async def test_templates_are_saved_by_name_and_validated(world: World) -> None:
    saved = await templates.save(world.scope(), "CRM export", "companies", MAPPING)
    again = await templates.save(world.scope(), " crm  export ", "companies", MAPPING)
    assert saved.id == again.id
    assert [t.name for t in await templates.listed(world.scope(), "companies")] == ["crm export"]
    with pytest.raises(BadUserInput) as bad:
        await templates.save(world.scope(), "x", "companies", {"target": "companies"})
    assert bad.value.field is not None and bad.value.field.startswith("mapping")
    assert await templates.listed(world.scope(), "deals") == []


def test_manifest_digest_is_hex_sha256() -> None:
    assert UploadManifest(file_name="a", size=0, sha256=hashlib.sha256(b"").hexdigest())
    assert ADMIN.workspace_id == "w1"

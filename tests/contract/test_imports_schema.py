"""Import service contracts: the committed SDL is current and has the import API, every
event it publishes validates on the consumer side (parsed from the wire with only
`crm_contracts`), the README documents each subject and an example payload that validates,
and the imports party may call exactly the owners' import and export page endpoints."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from crm_contracts import export_pages, import_batches
from crm_contracts import imports as contract
from crm_contracts.access import party
from crm_contracts.envelope import SUBJECT_PATTERN, CloudEvent, service_of
from crm_kit.paths import REPO_ROOT

SERVICE_DIR = REPO_ROOT / "services" / "imports"
README = (SERVICE_DIR / "README.md").read_text()


def test_committed_schema_is_the_exported_one() -> None:
    from crm_imports.export_schema import sdl

    committed = (SERVICE_DIR / "schema.graphql").read_text()
    assert committed == sdl(), (
        "services/imports/schema.graphql is stale: run "
        "`python -m crm_imports.export_schema > services/imports/schema.graphql`"
    )
    for name in (
        "scalar Upload",
        "createImport(file: Upload!",
        "setImportMapping(",
        "startImport(",
        "cancelImport(",
        "undoImport(",
        "importJobChanged(id: ID!)",
        "saveImportTemplate(",
        "importTemplates(",
        "createExport(recordType: ImportRecordType!, format: ExportFormat! = CSV, filter: JSON",
        "cancelExport(id: ID!)",
        "exportJobChanged(id: ID!)",
        "downloadUrl: String",
    ):
        assert name in committed


def produced_events() -> list[CloudEvent]:
    from crm_imports.domain.export_job import ExportJob
    from crm_imports.domain.job import ImportJob
    from crm_imports.events.publish import encode

    at = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)
    job = ImportJob(
        id="6751f0c2a1b2c3d4e5f60718",
        workspace_id="w1",
        record_type="deals",
        created_by="ann",
        file_name="deals.csv",
        file_size=1200,
        upload_id="u" * 24,
        created_at=at,
        updated_at=at,
    )
    job.created()
    job.queue(False, "ann", ["admin"], at)
    job.finish("completed", at)
    job.undone(3, at)
    export = ExportJob(
        id="6751f0c2a1b2c3d4e5f60719",
        workspace_id="w1",
        record_type="deals",
        format="xlsx",
        filter={"status": "OPEN"},
        created_by="rita",
        roles=["rep"],
        created_at=at,
        updated_at=at,
    )
    export.queued()
    export.begin(at)
    export.progressed(200, 450, at)
    export.completed("6751f0c2a1b2c3d4e5f60719-1", "deals.xlsx", 9000, 1, 450, at, at)
    events = [*job.pending_events, *export.pending_events]
    return [encode(event) for event in events]


def test_every_subject_is_produced_and_owned_by_imports() -> None:
    assert {event.type for event in produced_events()} == set(contract.EVENTS)
    for subject in contract.EVENTS:
        assert SUBJECT_PATTERN.match(subject) and service_of(subject) == "imports"


@pytest.mark.parametrize("event", produced_events(), ids=lambda e: e.type)
def test_produced_events_validate_on_the_consumer_side(event: CloudEvent) -> None:
    model = contract.EVENTS[event.type]
    received = CloudEvent.from_json(event.to_json())
    assert received.workspace == "w1" and received.source == "crm/imports"
    assert model.model_validate(received.data).wire() == event.data


def test_readme_documents_every_event_and_a_valid_example() -> None:
    for subject in contract.EVENTS:
        assert f"`{subject}`" in README
    example = re.search(r"```json\n(.*?)\n```", README, re.S)
    assert example is not None
    contract.ImportJobChanged.model_validate(json.loads(example.group(1)))


def test_the_imports_party_calls_the_owners_import_and_export_page_endpoints_only() -> None:
    allowed = set(party("imports").requests)
    writes = {import_batches.write_subject(kind) for kind in import_batches.OWNER_OF}
    undos = {import_batches.undo_subject(owner) for owner in ("contacts", "deals", "tasks")}
    pages = {export_pages.page_subject(kind) for kind in import_batches.OWNER_OF}
    assert allowed == writes | undos | pages
    for subject in allowed:
        assert subject in README

"""The company importer against a real FerretDB: mapping, normalisation, de-duplication,
dry run, per-row errors, demo contacts, and idempotency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from crm_contacts import importer
from crm_kit.outbox import PENDING
from crm_kit.paths import demo_dataset_dir

pytestmark = pytest.mark.integration

ACCOUNTS = demo_dataset_dir() / "accounts.csv"


def _argv(infra: Any, db_name: str, file: Path, *extra: str) -> list[str]:
    return [
        "companies",
        str(file),
        "--workspace",
        "demo",
        "--mongodb-uri",
        infra.mongodb_uri,
        "--database",
        db_name,
        "--quiet",
        *extra,
    ]


@pytest.fixture
def db(infra: Any, db_name: str) -> Any:
    # Synchronous: importer.main() runs its own event loop, so these tests are not async.
    client: MongoClient = MongoClient(infra.mongodb_uri, tz_aware=True)
    yield client[db_name]
    client.close()


def test_accounts_csv_imports_once_with_demo_contacts(
    infra: Any, db_name: str, db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = len(ACCOUNTS.read_text().strip().splitlines()) - 1
    argv = _argv(infra, db_name, ACCOUNTS, "--with-demo-contacts")

    assert importer.main([*argv, "--dry-run"]) == 0
    assert "would create" in capsys.readouterr().out
    assert db.companies.count_documents({}) == 0

    assert importer.main(argv) == 0
    assert db.companies.count_documents({"workspace_id": "demo"}) == rows
    assert db.contacts.count_documents({"workspace_id": "demo"}) == 2 * rows
    assert db.interactions.count_documents({"workspace_id": "demo"}) == 6 * rows
    acme = db.companies.find_one({"name": "Acme Corporation"})
    assert acme["industry"] == "technology"  # "technolgy" fixed
    assert acme["size"] == 2822
    assert acme["owner_id"] is None
    assert '"revenue":1100.04' in acme["custom_json"]
    assert db.companies.count_documents({"address.country": "Philippines"}) >= 1
    assert db.companies.count_documents({"address.country": "Philipines"}) == 0
    contact = db.contacts.find_one({"company_id": acme["_id"]})
    assert contact["email"].endswith("@acme-corporation.example")
    # Events wait in the outbox for the running service's relay.
    assert db.companies.count_documents({PENDING: True}) == rows

    # A second run adds nothing.
    capsys.readouterr()
    assert importer.main(argv) == 0
    out = capsys.readouterr().out
    assert f"created 0, skipped {rows}" in out
    assert db.companies.count_documents({}) == rows
    assert db.contacts.count_documents({}) == 2 * rows
    assert db.interactions.count_documents({}) == 6 * rows


def test_mapping_dedupe_and_row_errors(
    infra: Any, db_name: str, db: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_file = tmp_path / "companies.csv"
    csv_file.write_text(
        "Company,Web,Staff,City\n"
        "Globex,globex.com,120,Springfield\n"
        "GLOBEX  inc,https://www.globex.com,5,Shelbyville\n"  # same domain: skipped
        "  globex ,,,\n"  # same normalised name: skipped
        "Initech,initech.com,many,Austin\n"  # bad size
        ",nameless.com,3,\n"  # no name
        "Hooli,not a domain!,10,Palo Alto\n"  # bad domain
    )
    argv = _argv(
        infra, db_name, csv_file,
        "--map", "Company=name", "--map", "Web=domain", "--map", "Staff=size",
        "--map", "City=address.city",
    )  # fmt: skip
    assert importer.main(argv) == 1
    out = capsys.readouterr().out
    assert "created 1, skipped 2 already present, 3 with errors" in out
    assert "line 5: Staff: 'many' is not a number" in out
    assert "line 6: name: must not be empty" in out
    assert "line 7: domain:" in out
    globex = db.companies.find_one({"name": "Globex"})
    assert globex["domain"] == "globex.com"
    assert globex["address"]["city"] == "Springfield"
    assert globex["size"] == 120


def test_bad_mapping_is_a_usage_error(tmp_path: Path) -> None:
    csv_file = tmp_path / "c.csv"
    csv_file.write_text("a\n1\n")
    with pytest.raises(SystemExit) as exit_info:
        importer.main(["companies", str(csv_file), "--map", "a=nonsense"])
    assert exit_info.value.code == 2

"""The company importer against a real FerretDB: mapping, normalisation, de-duplication,
dry run, per-row errors, demo contacts, idempotency, and the odd files of
tests/fixtures/tabular (encodings, delimiters, malformed rows, headers, no rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from pymongo import MongoClient

from crm_contacts import importer
from crm_kit.outbox import PENDING
from crm_kit.paths import REPO_ROOT, demo_dataset_dir

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
        "--nats-url",
        infra.nats_url,
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
    # The loader publishes what it wrote (as the contacts service): nothing waits for a
    # running service's backstop sweep.
    for name in ("import_batches", "companies", "contacts", "interactions"):
        assert db[name].count_documents({PENDING: True}) == 0, name

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


# -- real files (read by crm_tabular) ----------------------------------------------------

FIXTURES = REPO_ROOT / "tests/fixtures/tabular"


def test_latin1_semicolon_and_utf16_files_import(
    infra: Any, db_name: str, db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert importer.main(_argv(infra, db_name, FIXTURES / "latin1.csv")) == 0
    assert "created 3" in capsys.readouterr().out
    assert db.companies.find_one({"name": "Société Générale"})["size"] == 5000
    assert db.companies.find_one({"name": "Müller Söhne"})["industry"] == "technology"

    assert importer.main(_argv(infra, db_name, FIXTURES / "semicolon.csv")) == 0
    acme = db.companies.find_one({"name": "Acme, Inc."})
    assert acme["industry"] == "technology"  # not "1.200" or a shifted column
    assert importer.main(_argv(infra, db_name, FIXTURES / "utf16le_bom.tsv")) == 0
    assert db.companies.find_one({"name": "Łódź Tech"})["size"] == 210
    # The same file again adds nothing.
    capsys.readouterr()
    assert importer.main(_argv(infra, db_name, FIXTURES / "latin1.csv")) == 0
    assert "created 0, skipped 3" in capsys.readouterr().out


def test_trailing_comma_and_malformed_rows_are_reported_not_fatal(
    infra: Any, db_name: str, db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert importer.main(_argv(infra, db_name, FIXTURES / "trailing_comma.csv")) == 0
    out = capsys.readouterr().out
    assert "3 rows, created 3" in out
    assert "line 2: warning: has 5 fields, the header 4" in out
    assert importer.main(_argv(infra, db_name, FIXTURES / "malformed_rows.csv")) == 1
    out = capsys.readouterr().out
    assert "4 rows, created 2, skipped 0 already present, 2 with errors" in out
    assert "line 3: column 5: 'surplus' is beyond the header's 4 columns" in out
    assert "line 4: employees: is missing: the row has 2 fields, the header 4" in out
    assert db.companies.count_documents({"name": {"$in": ["Good One", "Good Two"]}}) == 2
    assert db.companies.count_documents({"name": {"$in": ["Too Many", "Too Few"]}}) == 0


def test_duplicated_header_keeps_the_first_column_and_says_so(
    infra: Any, db_name: str, db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert importer.main(_argv(infra, db_name, FIXTURES / "duplicate_header.csv")) == 0
    out = capsys.readouterr().out
    assert "line 1: warning: account: column 3 repeats the name of column 1" in out
    assert db.companies.count_documents({"name": "First Name Co"}) == 1
    assert db.companies.count_documents({"name": "Second Name Co"}) == 0
    # The second column is there to map by its new name.
    argv = _argv(infra, db_name, FIXTURES / "duplicate_header.csv", "--map", "account (2)=name")
    argv += ["--map", "account=custom.alias"]
    assert importer.main(argv) == 0
    second = db.companies.find_one({"name": "Second Name Co"})
    assert '"alias":"First Name Co"' in second["custom_json"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", "the file is empty"),
        ("header_only.csv", "has a header (row 1) and no data rows"),
        ("not_a_table.bin", "binary data"),
        ("image.png", "PNG image"),
        ("nope.csv", "no such file"),
    ],
)
def test_files_without_rows_are_a_usage_error_and_write_nothing(
    infra: Any, db_name: str, db: Any, name: str, message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert importer.main(_argv(infra, db_name, FIXTURES / name)) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert captured.out == ""
    assert db.companies.count_documents({}) == 0


def test_a_small_broken_file_is_refused_before_anything_is_written(
    infra: Any, db_name: str, db: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The preview's sample reads a small file whole before the import starts (a break
    past the sample stops the import with its summary: tests/unit/test_importer_rules)."""
    csv_file = tmp_path / "broken.csv"
    csv_file.write_text('name,size\nGlobex,10\nInitech,20\n"Hooli,30\nUmbrella,40\n')
    assert importer.main(_argv(infra, db_name, csv_file)) == 2
    err = capsys.readouterr().err
    assert "row 4: the quote opened on line 4 is never closed" in err
    assert db.companies.count_documents({}) == 0


def test_xlsx_and_explicit_options(
    infra: Any, db_name: str, db: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = Workbook()
    book.active.title = "Cover"
    sheet = book.create_sheet("Accounts")
    sheet.append(["account", "employees", "office_location"])
    sheet.append(["Vehement Capital", 4540.0, "Philipines"])
    book.save(tmp_path / "accounts.xlsx")
    argv = _argv(infra, db_name, tmp_path / "accounts.xlsx", "--sheet", "Accounts")
    assert importer.main(argv) == 0
    vehement = db.companies.find_one({"name": "Vehement Capital"})
    assert vehement["size"] == 4540 and vehement["address"]["country"] == "Philippines"
    # A delimiter given beats the one detected: read as `;`, the file has one column.
    argv = _argv(infra, db_name, FIXTURES / "crlf.csv", "--delimiter", ";", "--map",
                 "account,sector,employees,office_location=name")  # fmt: skip
    assert importer.main(argv) == 0
    assert db.companies.count_documents({"name": {"$regex": "^Stark Industries,"}}) == 1
    capsys.readouterr()
    assert importer.main(_argv(infra, db_name, FIXTURES / "crlf.csv", "--map", "account=")) == 2
    assert "no column maps to name" in capsys.readouterr().err

"""`crm import`: the command line as a client of the import API, through the gateway of the
real stack: the suggested mapping, a dry run, the run, each row's issue printed, exit
codes a script can tell apart, a mapping file refused naming its place, and undo."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from crm_cli.imports import OK, ROWS_FAILED, USAGE
from crm_cli.imports import main as import_main
from crm_kit.auth import issue_token

from ..conftest import Stack
from .helpers import new_workspace
from .imports_client import FIXTURES

pytestmark = pytest.mark.e2e


async def run_crm(*argv: str) -> tuple[int, str]:
    """`crm import ...` as a user runs it (its HTTP client is synchronous: off the event
    loop); what it prints."""
    out = io.StringIO()
    code = await asyncio.to_thread(import_main, list(argv[1:]), out)
    return code, out.getvalue()


async def test_import_dry_run_run_issues_and_undo(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = new_workspace()
    token = issue_token(workspace, "ann", ["admin"])
    common = ["--gateway-url", stack.gateway_url, "--token", token]
    source = str(FIXTURES / "report-footer.csv")

    code, out = await run_crm("import", "companies", source, "--dry-run", *common)
    assert code == ROWS_FAILED, out  # the footer's rows are refused, each printed
    assert "dry run completed: 8 rows read, 3 created" in out
    assert "row 10 " in out and "footer" in out

    code, out = await run_crm("import", "companies", source, *common)
    assert code == ROWS_FAILED, out
    assert "import completed: 8 rows read, 3 created" in out
    job_id = out.split()[1].rstrip(":")

    clean = tmp_path / "more.csv"
    clean.write_text("Company,Website\nHooli,https://hooli.example\n", encoding="utf-8")
    code, out = await run_crm("import", "companies", str(clean), *common)
    assert code == OK, out
    assert "1 created" in out and "0 failed" in out

    wrong = tmp_path / "mapping.json"
    wrong.write_text(json.dumps({"target": "companies", "fields": {"name": {"column": "Nme"}}}))
    code, out = await run_crm("import", "companies", str(clean), "--mapping", str(wrong), *common)
    assert code == USAGE
    assert "mapping.fields.name.column" in capsys.readouterr().err

    code, out = await run_crm("import", "undo", job_id, *common)
    assert code == OK and "3 records removed" in out

    reader = issue_token(workspace, "rita", ["rep"])
    code, out = await run_crm(
        "import", "companies", source, "--gateway-url", stack.gateway_url, "--token", reader
    )
    assert code == USAGE  # reps do not import: refused before any row is read
    missing = await run_crm("import", "companies", str(tmp_path / "nope.csv"), *common)
    assert missing[0] == USAGE

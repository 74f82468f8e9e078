"""`crm import --timeout`: a job still running when the time is up is told apart from a
refusal (2) and a failure (1): exit code 4, with a message saying the job goes on."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import pytest

from crm_cli import imports
from crm_cli.imports import STILL_RUNNING, StillRunning


class RunningJob:
    """An import API whose job never ends."""

    def __init__(self) -> None:
        self.asked = 0

    def data(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        self.asked += 1
        progress = {"rowsRead": self.asked * 10}
        return {"importJob": {"id": variables["id"], "status": "RUNNING", "progress": progress}}


def test_following_stops_at_the_timeout_with_the_job_still_running() -> None:
    api = RunningJob()
    args = argparse.Namespace(timeout=0.0, show_issues=0)
    out = io.StringIO()
    with pytest.raises(StillRunning, match=r"still RUNNING after 0\.0 s; it goes on"):
        imports._follow(api, "job-1", args, out)  # type: ignore[arg-type]
    assert "running: 10 rows read" in out.getvalue()


def test_the_command_exits_4_when_the_job_outlives_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "companies.csv"
    source.write_text("Company\nAcme\n", encoding="utf-8")

    def still_running(*_: Any) -> int:
        raise StillRunning("the job j is still RUNNING after 1 s; it goes on")

    monkeypatch.setattr(imports, "run_import", still_running)
    code = imports.main(["companies", str(source), "--token", "t", "--timeout", "1"], io.StringIO())
    assert code == STILL_RUNNING == 4
    assert "it goes on" in capsys.readouterr().err

"""What a new user relies on before reading any code: the license, and a `crm` command that
works from anywhere without the Makefile's PYTHONPATH (the README's import commands)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from crm_kit.paths import REPO_ROOT


def test_the_repository_states_its_license() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    text = (REPO_ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    package = (REPO_ROOT / "web" / "package.json").read_text()
    assert '"license": "Apache-2.0"' in package


def test_the_crm_command_runs_without_pythonpath(tmp_path: Path) -> None:
    crm = Path(sys.executable).parent / "crm"
    assert crm.exists(), "run `make install` (it installs the `crm` entry point)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["JWT_SECRET"] = "x" * 48
    for argv, option in (
        (["load", "deals", "--help"], "--spread-expected-close"),
        (["import", "deals", "--help"], "--on-existing"),
    ):
        helped = subprocess.run(
            [str(crm), *argv], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert helped.returncode == 0, helped.stderr
        assert option in helped.stdout
    token = subprocess.run(
        [str(crm), "token", "--workspace", "acme", "--role", "manager"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert token.returncode == 0, token.stderr
    assert token.stdout.splitlines()[0] == "workspace=acme subject=admin roles=manager"
    assert token.stdout.splitlines()[1].count(".") == 2  # a JWT

"""The alert rules and the Grafana dashboard under deploy/monitoring ask only for metrics
the code exports, every alert is explained in the runbook, and the rules are valid and do
what they say: `promtool check rules` and `promtool test rules` (Prometheus's own tool, built
from the Go module proxy by scripts/install-promtool.sh)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from crm_kit.paths import REPO_ROOT

MONITORING = REPO_ROOT / "deploy" / "monitoring"
RULES = MONITORING / "alerts.yaml"
METRIC = re.compile(r"\b(crm_[a-z_]+)")
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def _rules() -> list[dict]:
    return [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def _exported_names() -> str:
    """The source of everything that exports metrics (names are string literals there)."""
    return "\n".join(
        path.read_text()
        for root in ("libs/crm_kit", "gateway/crm_gateway")
        for path in (REPO_ROOT / root).rglob("*.py")
    )


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_only_exported_metrics_are_queried(source: str) -> None:
    exprs = [r["expr"] for r in _rules()] if source == "alerts" else _dashboard_exprs()
    exported = _exported_names()
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    assert used
    missing = []
    for name in sorted(used):
        base = next((name.removesuffix(s) for s in HISTOGRAM_SUFFIXES if name.endswith(s)), name)
        if f'"{base}"' not in exported:
            missing.append(name)
    assert missing == []


def test_every_alert_is_complete_and_explained_in_the_runbook() -> None:
    runbook = (REPO_ROOT / "docs" / "operations.md").read_text()
    names = [rule["alert"] for rule in _rules()]
    assert len(names) == len(set(names))
    for rule in _rules():
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        assert rule["annotations"]["summary"]
        assert f"`{rule['alert']}`" in runbook, (
            f"docs/operations.md does not explain {rule['alert']}"
        )


def test_the_dashboard_is_grafana_json_with_unique_panels() -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"] and dashboard["panels"]
    assert all(
        t["datasource"]["uid"] == "${datasource}"
        for e in dashboard["panels"]
        for t in e.get("targets", [])
    )


@pytest.fixture(scope="module")
def promtool() -> Path:
    built = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "install-promtool.sh")],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(built.stdout.strip().splitlines()[-1])


def test_promtool_accepts_the_rules(promtool: Path) -> None:
    checked = subprocess.run(
        [str(promtool), "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_rules_fire_when_and_only_when_they_should(promtool: Path) -> None:
    tested = subprocess.run(
        [str(promtool), "test", "rules", "alerts.test.yaml"],
        capture_output=True,
        text=True,
        cwd=MONITORING,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr

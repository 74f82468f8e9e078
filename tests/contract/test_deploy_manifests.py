"""The Kubernetes manifests agree with the code: ports, probes, image commands, settings.

No cluster runs here, so this is as far as validation goes: every document parses, each
service's Deployment runs its module with the port its Settings default to and probes the
endpoints the kit serves, and every environment variable set is one the code reads.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from crm_kit.paths import REPO_ROOT
from crm_kit.settings import DEFAULT_PORTS

K8S = REPO_ROOT / "deploy" / "k8s"


def _documents() -> list[dict]:
    docs: list[dict] = []
    for path in sorted(K8S.glob("*.yaml")):
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def _deployment(name: str) -> dict:
    for doc in _documents():
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no Deployment {name}")


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


@pytest.mark.parametrize("service", ["contacts", "deals", "tasks", "gateway"])
def test_deployment_matches_the_service(service: str) -> None:
    container = _deployment(service)["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == [f"crm_{service}"]
    port = container["ports"][0]["containerPort"]
    assert port == DEFAULT_PORTS[service]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"


def test_configured_variables_are_read_by_the_code() -> None:
    config = next(d for d in _documents() if d["kind"] == "ConfigMap")
    sources = "\n".join(
        p.read_text()
        for root in ("libs", "services", "gateway")
        for p in Path(REPO_ROOT / root).rglob("*.py")
    )
    # Subgraph URL overrides are read by pattern (SUBGRAPH_<NAME>_URL), not by literal name.
    unread = [
        key
        for key in config["data"]
        if key not in sources and not (key.startswith("SUBGRAPH_") and "SUBGRAPH_" in sources)
    ]
    assert unread == []
    assert "CRM_HOST" in (REPO_ROOT / "libs/crm_kit/settings.py").read_text()

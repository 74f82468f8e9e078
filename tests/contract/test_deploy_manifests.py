"""The Kubernetes manifests agree with the code: ports, probes, image commands, settings,
credentials, network policies.

No cluster runs here, so validation goes as far as tools that run here allow: every
document against the Kubernetes API schemas (kubernetes-validate's bundled schemas,
strict: no unknown field), the NATS server configuration through `nats-server -t` with
the Secrets `crm_kit.nats_setup k8s-secrets` generates, and the rules below: each
service's Deployment runs its module with the port its Settings default to, probes the
endpoints the kit serves and mounts its own credentials; every environment variable set is
one the code reads; the NetworkPolicies admit what the design says and nothing else (the
metrics ports: Prometheus only); every part has its metrics port, resources, an HPA and a
PDB; no Secret is committed (all are generated).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate.utils import ValidationError, validate

from crm_kit.devstack import nats_binary
from crm_kit.metrics import DEFAULT_METRICS_PORTS
from crm_kit.nats_setup import k8s_secrets
from crm_kit.paths import REPO_ROOT
from crm_kit.settings import DEFAULT_PORTS

K8S = REPO_ROOT / "deploy" / "k8s"


def _documents() -> list[dict]:
    docs: list[dict] = []
    for path in sorted(K8S.glob("*.yaml")):
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def _find(kind: str, name: str) -> dict:
    for doc in _documents():
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} {name}")


def _deployment(name: str) -> dict:
    return _find("Deployment", name)


# The oldest Kubernetes minor version the manifests must be valid for.
KUBERNETES_VERSION = "1.30"


@pytest.mark.parametrize(
    "doc",
    [d for d in _documents() if d["kind"] != "Kustomization"],
    ids=lambda d: f"{d['kind']}/{d['metadata']['name']}",
)
def test_every_document_is_valid_against_the_kubernetes_schema(doc: dict) -> None:
    try:
        validate(doc, KUBERNETES_VERSION, strict=True)
    except ValidationError as error:
        pytest.fail(f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}")


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


@pytest.mark.parametrize(
    "service", ["contacts", "deals", "tasks", "capture", "webhooks", "imports", "gateway"]
)
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


SERVICES = ("contacts", "deals", "tasks", "capture", "webhooks", "imports")


def _pod(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]


def _secret_volumes(doc: dict) -> set[str]:
    return {v["secret"]["secretName"] for v in _pod(doc).get("volumes", []) if "secret" in v}


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_holds_only_its_own_credentials(service: str) -> None:
    deployment = _deployment(service)
    container = _pod(deployment)["containers"][0]
    secrets = _secret_volumes(deployment)
    assert {f"crm-nats-{service}", f"crm-internal-{service}"} <= secrets
    others = {f"crm-nats-{o}" for o in SERVICES if o != service} | {"crm-nats-provisioner"}
    assert not secrets & others
    env_secrets = {e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e}
    assert env_secrets == {f"crm-mongodb-{service}"}
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["crm/nats-client"] == "true" and labels["crm/db-client"] == "true"


@pytest.mark.parametrize("service", ("contacts", "deals", "tasks"))
def test_services_with_read_indexes_have_time_to_write_their_snapshots(service: str) -> None:
    """A clean stop writes the indexes' snapshots (~15 s at 100k deals' proportions): the
    pod's grace must outlast it, or the next start scans the collections instead."""
    assert _pod(_deployment(service)).get("terminationGracePeriodSeconds", 30) >= 60
    compose = yaml.safe_load((REPO_ROOT / "deploy/compose/compose.yaml").read_text())
    assert compose["services"][service]["stop_grace_period"] == "60s"


def test_streams_are_created_with_as_many_replicas_as_nats_servers() -> None:
    nats = _find("StatefulSet", "nats")
    job = _find("Job", "crm-nats-streams")
    container = _pod(job)["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["args"] == ["crm_kit.nats_setup", "streams"]
    assert int(env["NATS_STREAM_REPLICAS"]) == nats["spec"]["replicas"] == 3
    assert _secret_volumes(job) == {"crm-nats-provisioner"}


def test_the_nats_configuration_with_generated_secrets_is_valid(tmp_path: Path) -> None:
    """What the StatefulSet mounts, checked by the NATS server itself (`-t`)."""
    config = _find("ConfigMap", "nats-config")["data"]["nats.conf"]
    (tmp_path / "config").mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "config" / "nats.conf").write_text(config.replace("/data", str(tmp_path)))
    generated = k8s_secrets("crm", 3, jwt_public_key="-----BEGIN PUBLIC KEY-----\n")
    secrets = {doc["metadata"]["name"]: doc for doc in generated}
    for name, content in secrets["crm-nats-server"]["stringData"].items():
        (tmp_path / "secret" / name).write_text(content)
    checked = subprocess.run(
        [str(nats_binary()), "-t", "-c", str(tmp_path / "config" / "nats.conf")],
        capture_output=True,
        text=True,
        env={**os.environ, "POD_NAME": "nats-0"},
    )
    assert checked.returncode == 0, checked.stderr
    # Every Secret a manifest mounts or reads is one the generator makes; none is committed.
    assert [d["metadata"]["name"] for d in _documents() if d["kind"] == "Secret"] == []
    mounted = set().union(
        *(_secret_volumes(d) for d in _documents() if "template" in d.get("spec", {}))
    )
    mounted |= {
        v["secret"]["secretName"]
        for v in _pod(_find("StatefulSet", "nats"))["volumes"]
        if "secret" in v
    }
    mounted |= {
        source["secretRef"]["name"]
        for d in _documents()
        if "template" in d.get("spec", {})
        for container in _pod(d)["containers"]
        for source in container.get("envFrom", [])
        if "secretRef" in source
    }
    assert mounted <= set(secrets)


def _policies() -> dict[str, dict]:
    return {d["metadata"]["name"]: d["spec"] for d in _documents() if d["kind"] == "NetworkPolicy"}


def _selected(selector: dict, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    return all(
        labels.get(e["key"]) in e["values"] if e["operator"] == "In" else False
        for e in selector.get("matchExpressions", [])
    )


def _workload_labels() -> dict[str, dict[str, str]]:
    return {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in _documents()
        if d["kind"] in ("Deployment", "StatefulSet", "Job")
    }


# Admits Prometheus (another namespace) to the metrics ports: checked on its own below.
METRICS_POLICY = "metrics-from-prometheus"


def _admitted(target: dict[str, str], port: str | None = None) -> tuple[bool, set[str]]:
    """(open to anyone?, workloads admitted) by the policies selecting a pod with `target`
    labels, on `port` (a named port) or on any port but the metrics port."""
    anyone, sources = False, set()
    workloads = _workload_labels()
    for name, spec in _policies().items():
        if name == METRICS_POLICY or not _selected(spec["podSelector"], target):
            continue
        for rule in spec.get("ingress", []):
            ports = {p["port"] for p in rule.get("ports", [])}
            if port is not None and ports and port not in ports:
                continue
            peers: list[dict[str, Any]] = rule.get("from", [])
            if not peers:
                anyone = True
            for peer in peers:
                selector = peer.get("podSelector")
                assert selector is not None and "namespaceSelector" not in peer
                sources |= {n for n, labels in workloads.items() if _selected(selector, labels)}
    return anyone, sources


def test_network_policies_admit_only_what_the_design_says() -> None:
    default = _policies()["default-deny-ingress"]
    assert default == {"podSelector": {}, "policyTypes": ["Ingress"]}
    workloads = _workload_labels()
    assert _admitted(workloads["gateway"]) == (True, set())  # the only public door
    for service in SERVICES:
        assert _admitted(workloads[service], "http") == (False, {"gateway"})
    for service in ("contacts", "deals", "tasks"):
        assert _admitted(workloads[service]) == (False, {"gateway"})
    # Capture's mail door: open, on its SMTP port only.
    assert _admitted(workloads["capture"], "smtp") == (True, set())
    assert _admitted(workloads["nats"]) == (False, {*SERVICES, "crm-nats-streams", "nats"})
    assert _admitted({"app": "mongodb"}) == (False, set(SERVICES))
    # The gateway's public door is its http port only.
    public = _policies()["gateway-from-anywhere"]["ingress"]
    assert [rule["ports"] for rule in public] == [[{"port": "http"}]]


def test_only_prometheus_reaches_the_metrics_ports_of_every_part() -> None:
    spec = _policies()[METRICS_POLICY]
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"port": "metrics"}]
    (peer,) = rule["from"]
    assert set(peer) == {"namespaceSelector", "podSelector"}  # both: that namespace's Prometheus
    scraped = {
        n for n, labels in _workload_labels().items() if _selected(spec["podSelector"], labels)
    }
    assert scraped == {"gateway", *SERVICES}


@pytest.mark.parametrize("part", [*SERVICES, "gateway"])
def test_each_part_serves_metrics_on_its_own_port_and_scales(part: str) -> None:
    deployment = _deployment(part)
    container = _pod(deployment)["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert int(env["METRICS_PORT"]) == ports["metrics"] == DEFAULT_METRICS_PORTS[part]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == ports["metrics"]
    assert (
        container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
    )
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    hpa = _find("HorizontalPodAutoscaler", part)["spec"]
    assert hpa["scaleTargetRef"]["name"] == part and hpa["minReplicas"] >= 2
    assert _find("PodDisruptionBudget", part)["spec"]["selector"]["matchLabels"] == {"app": part}
    # The Service exposes the API port only, never the metrics port.
    service = _find("Service", part)
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]


def test_nats_keeps_a_quorum_through_disruptions() -> None:
    assert _find("PodDisruptionBudget", "nats")["spec"]["maxUnavailable"] == 1

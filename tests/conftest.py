"""The whole stack for end-to-end journeys and attacks (tests/e2e, tests/security): the
services (capture with its SMTP door on a free port) and the gateway as real processes on
free ports, over the session's throwaway FerretDB and NATS, each service with its own
NATS user and signing key."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from crm_kit.devstack import InfraStack, free_port, spawn, wait_http_ok
from crm_kit.paths import REPO_ROOT, python_path


@dataclass
class Stack:
    gateway_url: str
    service_urls: dict[str, str]
    env: dict[str, str]


@pytest.fixture(scope="session")
def stack(infra: InfraStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("e2e-logs")
    ports = {
        name: free_port()
        for name in ("contacts", "deals", "tasks", "capture", "webhooks", "imports", "gateway")
    }
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": python_path(),
            "MONGODB_URI": infra.mongodb_uri,
            "NATS_URL": infra.nats_url,
            "CRM_DB_PREFIX": "e2e",
            "OUTBOX_SWEEP_SECONDS": "0.5",
            "LOG_LEVEL": "INFO",
        }
    )
    for name, port in ports.items():
        env[f"{name.upper()}_PORT"] = str(port)
        env[f"{name.upper()}_HOST"] = "127.0.0.1"
        if name != "gateway":
            env[f"SUBGRAPH_{name.upper()}_URL"] = f"http://127.0.0.1:{port}/graphql"
    env["GATEWAY_PORT"] = str(ports["gateway"])
    env["GATEWAY_HOST"] = "127.0.0.1"
    env["CAPTURE_SMTP_PORT"] = str(free_port())
    env["CAPTURE_IMAP_POLL_SECONDS"] = "0.5"
    env["CAPTURE_PUBLIC_URL"] = f"http://127.0.0.1:{ports['gateway']}"
    processes: list[subprocess.Popen] = []
    try:
        for name in ("contacts", "deals", "tasks", "capture", "webhooks", "imports", "gateway"):
            log = logs / f"{name}.log"
            process = spawn([sys.executable, "-m", f"crm_{name}"], log, env=env, cwd=REPO_ROOT)
            processes.append(process)
            path = "/health" if name == "gateway" else "/ready"
            wait_http_ok(f"http://127.0.0.1:{ports[name]}{path}", process, log, 60.0)
        yield Stack(
            gateway_url=f"http://127.0.0.1:{ports['gateway']}/graphql",
            service_urls={
                name: f"http://127.0.0.1:{port}/graphql"
                for name, port in ports.items()
                if name != "gateway"
            },
            env=env,
        )
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

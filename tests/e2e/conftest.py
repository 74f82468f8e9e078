"""The whole stack for end-to-end journeys: three services and the gateway as real
processes on free ports, over the session's throwaway FerretDB and NATS."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from crm_kit.devstack import InfraStack, free_port, spawn
from crm_kit.paths import REPO_ROOT

PYTHONPATH = os.pathsep.join(
    str(REPO_ROOT / sub)
    for sub in ("libs", "services/contacts", "services/deals", "services/tasks", "gateway", "cli")
)


@dataclass
class Stack:
    gateway_url: str
    service_urls: dict[str, str]
    env: dict[str, str]


def _wait(url: str, process: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} process exited:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def stack(infra: InfraStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("e2e-logs")
    ports = {name: free_port() for name in ("contacts", "deals", "tasks", "gateway")}
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": PYTHONPATH,
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
    processes: list[subprocess.Popen] = []
    try:
        for name in ("contacts", "deals", "tasks", "gateway"):
            log = logs / f"{name}.log"
            process = spawn([sys.executable, "-m", f"crm_{name}"], log, env=env, cwd=REPO_ROOT)
            processes.append(process)
            path = "/health" if name == "gateway" else "/ready"
            _wait(f"http://127.0.0.1:{ports[name]}{path}", process, log)
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

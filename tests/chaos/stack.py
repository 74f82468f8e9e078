"""The chaos suite's own platform: FerretDB, NATS, the contacts, deals, tasks, capture and
webhooks services and the gateway as real processes on free ports (capture's SMTP door
too), each of which can be killed with SIGKILL
and started again on the same port and data (FerretDB's SQLite files, NATS's JetStream
store), as a crashed pod would be."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from crm_kit.devstack import (
    InfraStack,
    ManagedServer,
    free_port,
    spawn,
    start_ferretdb,
    wait_http_ok,
)
from crm_kit.paths import REPO_ROOT, python_path

SERVICES = ("contacts", "deals", "tasks", "capture", "webhooks")
DB_PREFIX = "chaos"


@dataclass
class ChaosStack:
    infra: InfraStack
    logs: Path
    ports: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @classmethod
    def create(cls, infra: InfraStack, logs: Path) -> ChaosStack:
        stack = cls(infra, logs)
        stack.ports = {name: free_port() for name in (*SERVICES, "gateway")}
        stack.env = {
            **os.environ,
            "PYTHONPATH": python_path(),
            "MONGODB_URI": infra.mongodb_uri,
            "NATS_URL": infra.nats_url,
            "CRM_DB_PREFIX": DB_PREFIX,
            "OUTBOX_SWEEP_SECONDS": "0.5",
            # A killed attempt's key is taken over after 1 s of silence (default 10 s), so
            # a client's retry after a crash is answered within the suite's patience.
            "IDEMPOTENCY_STALE_SECONDS": "1",
            "METRICS_PORT": "off",
            # The suite's webhook receiver listens on 127.0.0.1 (allowed in development;
            # said here so the run does not depend on the mode).
            "WEBHOOK_PRIVATE_NETWORKS": "allow",
            "CAPTURE_SMTP_HOST": "127.0.0.1",
            "CAPTURE_SMTP_PORT": str(free_port()),
        }
        for name, port in stack.ports.items():
            stack.env[f"{name.upper()}_PORT"] = str(port)
            stack.env[f"{name.upper()}_HOST"] = "127.0.0.1"
            if name != "gateway":
                stack.env[f"SUBGRAPH_{name.upper()}_URL"] = f"http://127.0.0.1:{port}/graphql"
        return stack

    @property
    def smtp_port(self) -> int:
        return int(self.env["CAPTURE_SMTP_PORT"])

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}/graphql"

    def start(self, name: str) -> None:
        self._spawn(name)
        self._wait_ready(name)

    def start_all(self) -> None:
        """Every part at once (they wait for nothing of each other's to start), then each
        until ready: one start-up's time, not six in a row."""
        names = (*SERVICES, "gateway")
        for name in names:
            self._spawn(name)
        for name in names:
            self._wait_ready(name)

    def _spawn(self, name: str) -> None:
        log = self.logs / f"{name}.log"
        process = spawn([sys.executable, "-m", f"crm_{name}"], log, env=self.env, cwd=REPO_ROOT)
        self.processes[name] = process

    def _wait_ready(self, name: str) -> None:
        path = "/health" if name == "gateway" else "/ready"
        log = self.logs / f"{name}.log"
        url = f"http://127.0.0.1:{self.ports[name]}{path}"
        wait_http_ok(url, self.processes[name], log, 90.0)

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown hook runs, in-flight requests and unsent events stay where
        the crash left them."""
        if name in ("nats", "ferretdb"):
            self._server(name).kill()
            return
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def restart(self, name: str) -> None:
        if name == "nats":
            self.infra.restart_nats()  # same port and JetStream directory
        elif name == "ferretdb":
            old = self._server("ferretdb")
            self.infra.servers.remove(old)
            # Same port, SQLite files and stored credentials: the services' URI still holds.
            self.infra.servers.insert(0, start_ferretdb(old.log_path.parent, old.port))
        else:
            self.start(name)

    def _server(self, name: str) -> ManagedServer:
        (server,) = [s for s in self.infra.servers if s.name == name]
        return server

    def stop(self) -> None:
        for name in list(self.processes):
            process = self.processes.pop(name)
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

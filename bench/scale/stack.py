"""The scale benchmark's stack: FerretDB and NATS (`crm_kit.devstack.InfraStack`) that live
for the whole run, and the services and the gateway as processes on free ports of
127.0.0.1 that the benchmark stops and starts again on the loaded database (to time the
start to ready and the read indexes' warm-up). Each process gets its own metrics port, so
the warm-up is read from the services' own `crm_read_model_*` gauges."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from crm_kit.devstack import InfraStack, free_port, spawn
from crm_kit.paths import python_path

ROOT = Path(__file__).resolve().parents[2]
# Every subgraph the committed supergraph names (the gateway's /ready waits for them all),
# then the gateway.
SERVICES = ("contacts", "deals", "tasks", "capture", "webhooks", "imports")
PARTS = (*SERVICES, "gateway")
READY_TIMEOUT = 600.0


@dataclass
class Stack:
    root: Path
    infra: InfraStack = field(init=False)
    env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    metrics_ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ferretdb_metrics_url: str = ""
    # Parts run under `profiled.py` (SIGUSR2 toggles a cProfile): name -> output prefix.
    profiled: dict[str, str] = field(default_factory=dict)

    def start_infra(self) -> None:
        # Credentials and keys of this run only, set before any server starts.
        os.environ["CRM_DATA_DIR"] = str(self.root / "data")
        debug_addr = f"127.0.0.1:{free_port()}"
        os.environ["CRM_FERRETDB_DEBUG_ADDR"] = debug_addr
        self.ferretdb_metrics_url = f"http://{debug_addr}/debug/metrics"
        os.environ["JWT_SECRET"] = os.environ.get("JWT_SECRET") or secrets.token_urlsafe(48)
        self.infra = InfraStack(self.root / "servers", free_port(), free_port()).start()
        self.ports = {name: free_port() for name in PARTS}
        self.metrics_ports = {name: free_port() for name in PARTS}
        self.env = dict(os.environ)
        self.env.update(
            PYTHONPATH=python_path(),
            MONGODB_URI=self.infra.mongodb_uri,
            NATS_URL=self.infra.nats_url,
            LOG_LEVEL="WARNING",
            GATEWAY_LOG_LEVEL="WARNING",
            CAPTURE_SMTP_PORT=str(free_port()),  # never a running stack's 2525
            # Every sample goes with one caller's token, several at once, as no user works:
            # at the default 20 requests a second per caller the gateway answered most
            # moves and funnels 429 (a 10,000-deal run: 39 of 40 moves refused).
            GATEWAY_RATE_PER_TOKEN="0",  # off, as the other benches have it
        )
        for name, port in self.ports.items():
            self.env[f"{name.upper()}_PORT"] = str(port)
            self.env[f"{name.upper()}_HOST"] = "127.0.0.1"
            if name != "gateway":
                self.env[f"SUBGRAPH_{name.upper()}_URL"] = f"http://127.0.0.1:{port}/graphql"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def gateway_url(self) -> str:
        return f"{self.url('gateway')}/graphql"

    def metrics_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.metrics_ports[name]}/metrics"

    def start_parts(self) -> float:
        """Start every service and the gateway at once; seconds until each `/ready` is 200."""
        started = time.monotonic()
        for name in PARTS:
            env = {**self.env, "METRICS_PORT": str(self.metrics_ports[name])}
            log = self.root / f"{name}.log"
            command = [sys.executable, "-m", f"crm_{name}"]
            if name in self.profiled:
                wrapper = str(Path(__file__).with_name("profiled.py"))
                command = [sys.executable, wrapper, f"crm_{name}", self.profiled[name]]
            self.processes[name] = spawn(command, log, env=env, cwd=ROOT)
        pending = set(PARTS)
        with httpx.Client(timeout=2.0, trust_env=False) as http:
            while pending:
                for name in sorted(pending):
                    process = self.processes[name]
                    if process.poll() is not None:
                        tail = (self.root / f"{name}.log").read_text(errors="replace")[-3000:]
                        raise RuntimeError(f"{name} exited {process.returncode}:\n{tail}")
                    try:
                        if http.get(f"{self.url(name)}/ready").status_code == 200:
                            pending.discard(name)
                    except httpx.HTTPError:
                        pass
                if time.monotonic() - started > READY_TIMEOUT:
                    raise TimeoutError(f"not ready after {READY_TIMEOUT:.0f} s: {sorted(pending)}")
                time.sleep(0.2)
        return time.monotonic() - started

    def stop_parts(self, grace: float = 20.0) -> None:
        """SIGTERM (a clean shutdown: the services write their indexes' snapshots), then
        SIGKILL whatever has not exited after `grace` seconds."""
        for process in self.processes.values():
            process.terminate()
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.processes.clear()

    def rss(self) -> dict[str, int]:
        """Resident memory of each part now (bytes), FerretDB's and NATS's too."""
        found: dict[str, int] = {}
        named = {name: p.pid for name, p in self.processes.items()}
        named.update({server.name: server.process.pid for server in self.infra.servers})
        for name, pid in named.items():
            try:
                found[name] = psutil.Process(pid).memory_info().rss
            except psutil.Error:
                continue
        return found

    def peaks(self) -> dict[str, int]:
        """Peak resident memory of each part since it started (bytes, `VmHWM`): what the
        kernel saw at most, between samples included (a read index's rebuild)."""
        found: dict[str, int] = {}
        named = {name: p.pid for name, p in self.processes.items()}
        named.update({server.name: server.process.pid for server in self.infra.servers})
        for name, pid in named.items():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    found[name] = int(line.split()[1]) * 1024
        return found

    def pid(self, name: str) -> int:
        if name in self.processes:
            return self.processes[name].pid
        return next(s.process.pid for s in self.infra.servers if s.name == name)

    def stop(self, grace: float = 20.0) -> None:
        self.stop_parts(grace)
        self.infra.stop()

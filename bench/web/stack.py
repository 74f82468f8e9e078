"""The whole platform on free ports with the demo data, for the web benchmark and the
screenshots: throwaway FerretDB and NATS, the three services, the gateway serving the built
web app, and `crm demo` (import, win model, teams, story) into workspace `demo`.

`python bench/web/stack.py` starts it, prints the sign-in URL and waits for Ctrl-C.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for sub in ("libs", "services/contacts", "services/deals", "services/tasks", "services/capture",
            "gateway", "cli"):  # fmt: skip
    if str(ROOT / sub) not in sys.path:
        sys.path.insert(0, str(ROOT / sub))

from crm_kit.devstack import InfraStack, free_port, spawn, wait_http_ok  # noqa: E402
from crm_kit.paths import python_path  # noqa: E402

# Every part the committed supergraph names, then the gateway.
PARTS = ("contacts", "deals", "tasks", "capture", "gateway")


@dataclass
class Platform:
    base_url: str  # the gateway: web app at /, API at /graphql
    env: dict[str, str]
    demo_seconds: float
    # FerretDB's Prometheus metrics (its requests, for per-request counts).
    ferretdb_metrics_url: str = ""


@contextmanager
def platform(demo: bool = True, workspace: str = "demo") -> Iterator[Platform]:
    with tempfile.TemporaryDirectory(prefix="crm-web-bench-") as tmp:
        root = Path(tmp)
        # Everything generated (credentials, keys, the demo's marker files) in this run's
        # directory, set before the servers start: they and every child read it.
        os.environ["CRM_DATA_DIR"] = str(root / "data")
        debug_addr = f"127.0.0.1:{free_port()}"
        os.environ["CRM_FERRETDB_DEBUG_ADDR"] = debug_addr
        infra = InfraStack(root / "servers", free_port(), free_port()).start()
        processes: list[subprocess.Popen] = []
        ports = {name: free_port() for name in PARTS}
        # One development secret for the children and this process (its tokens must verify).
        os.environ["JWT_SECRET"] = os.environ.get("JWT_SECRET") or secrets.token_urlsafe(48)
        env = dict(os.environ)
        # A cProfile of each process on signals (`bench/load/cpu_profile`), when asked.
        profiling = [str(ROOT / "bench/load/cpu_profile")] if env.get("CRM_CPROFILE_DIR") else []
        env.update(
            PYTHONPATH=os.pathsep.join([*profiling, python_path()]),
            MONGODB_URI=infra.mongodb_uri,
            NATS_URL=infra.nats_url,
            LOG_LEVEL="WARNING",
            GATEWAY_LOG_LEVEL="WARNING",
            CAPTURE_SMTP_PORT=str(free_port()),  # never a running stack's 2525
        )
        for name, port in ports.items():
            env[f"{name.upper()}_PORT"] = str(port)
            env[f"{name.upper()}_HOST"] = "127.0.0.1"
            if name != "gateway":
                env[f"SUBGRAPH_{name.upper()}_URL"] = f"http://127.0.0.1:{port}/graphql"
        try:
            for name in PARTS:
                log = root / f"{name}.log"
                process = spawn([sys.executable, "-m", f"crm_{name}"], log, env=env, cwd=ROOT)
                processes.append(process)
                path = "/health" if name == "gateway" else "/ready"
                wait_http_ok(f"http://127.0.0.1:{ports[name]}{path}", process, log, 90.0)
            base = f"http://127.0.0.1:{ports['gateway']}"
            seconds = 0.0
            if demo:
                started = time.monotonic()
                argv = ["demo", "--workspace", workspace, "--gateway-url", f"{base}/graphql"]
                code = subprocess.run(
                    [sys.executable, "-m", "crm_cli", *argv], env=env, cwd=ROOT, check=False
                ).returncode
                if code != 0:
                    raise RuntimeError(f"crm demo exited {code}")
                seconds = time.monotonic() - started
            yield Platform(base, env, seconds, f"http://{debug_addr}/debug/metrics")
        finally:
            for process in reversed(processes):
                process.terminate()
            for process in processes:
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
            infra.stop()


def _stop(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop)  # `kill PID` stops it as cleanly as Ctrl-C
    with platform(demo="--no-demo" not in sys.argv) as running:
        print(f"demo loaded in {running.demo_seconds:.1f}s")
        print(f"sign in: {running.base_url}/sign-in   (Ctrl-C stops)", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass

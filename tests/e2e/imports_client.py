"""Uploading files through the gateway by the GraphQL multipart request spec, as a browser
or `curl -F` does, and following an import job to its end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson

from crm_kit.testing import auth_headers

from .helpers import eventually

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "imports"

CREATE = """mutation($file: Upload!, $kind: ImportRecordType!) {
  createImport(file: $file, recordType: $kind) { id status fileName fileSize
    preview { format encoding delimiter sheet header headerRow sampledRows moreRows
      rows { row values } columns { name type } suggestedMapping unmappedColumns notes
      issues { row code column severity message } } } }"""
JOB = """query($id: ID!) { importJob(id: $id) { id status error dryRun
  progress { rowsRead created updated unchanged skipped failed warnings fraction }
  dryRunResult { rowsRead created updated unchanged skipped failed warnings }
  issues(first: 100) { totalCount edges { node { row column value field code severity message } } }
  duplicates { wholeRows { total groups { rows } }
    byKey { key duplicates { total groups { rows value } } } }
  removed } }"""


async def post_upload(
    http: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    content: bytes,
    file_name: str,
    kind: str = "COMPANIES",
    query: str = CREATE,
) -> httpx.Response:
    operations = {"query": query, "variables": {"file": None, "kind": kind}}
    return await http.post(
        url,
        headers=headers,
        data={"operations": orjson.dumps(operations).decode(), "map": '{"0": ["variables.file"]}'},
        files={"0": (file_name, content, "text/csv")},
    )


class Importer:
    """One user of one workspace importing through the gateway."""

    def __init__(self, http: httpx.AsyncClient, url: str, workspace: str, roles: str = "admin"):
        self.http = http
        self.url = url
        self.headers = auth_headers(workspace, "ann", roles)

    async def create(self, content: bytes, file_name: str, kind: str = "COMPANIES") -> Any:
        response = await post_upload(self.http, self.url, self.headers, content, file_name, kind)
        return response.json()

    async def fixture(self, name: str, kind: str = "COMPANIES") -> dict[str, Any]:
        body = await self.create((FIXTURES / name).read_bytes(), name, kind)
        assert not body.get("errors"), body
        job: dict[str, Any] = body["data"]["createImport"]
        return job

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        response = await self.http.post(
            self.url, json={"query": query, "variables": variables or {}}, headers=self.headers
        )
        return response.json()

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        body = await self.gql(query, variables)
        assert not body.get("errors"), body
        return body["data"]

    async def ended(self, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
        async def done() -> dict[str, Any] | None:
            job = (await self.data(JOB, {"id": job_id}))["importJob"]
            return job if job["status"] not in ("QUEUED", "RUNNING") else None

        ended: dict[str, Any] = await eventually(done, timeout=timeout, what="the import's end")
        return ended

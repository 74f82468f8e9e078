"""`crm import <type> FILE`: an import through the platform's import API, as the web
client's import screen makes it: upload the file to the gateway (GraphQL multipart
request), take the mapping (a JSON file, a saved template or the suggestion), dry run or
run, follow the job to its end and print its counts and the rows' issues.

The CLI holds no import logic of its own: the import service reads the file and the
services that own each record type write the rows, exactly as for any other client, with
the same checks, permissions, audit and undo (`crm import undo JOB`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO
from uuid import uuid4

import httpx

from crm_kit.auth import issue_token

from .api import post_graphql

RECORD_TYPES = ("companies", "contacts", "deals", "interactions", "tasks")
ENDED = ("COMPLETED", "FAILED", "CANCELLED", "UNDONE")
DEFAULT_GATEWAY = "http://127.0.0.1:4000/graphql"
# Exit codes a script can tell apart.
OK, JOB_FAILED, USAGE, ROWS_FAILED, STILL_RUNNING = 0, 1, 2, 3, 4

CREATE = """mutation CreateImport($file: Upload!, $recordType: ImportRecordType!) {
  createImport(file: $file, recordType: $recordType) { id
    preview { format encoding delimiter sheet header headerRow sampledRows moreRows
      suggestedMapping unmappedColumns notes } } }"""
TEMPLATES = """query($recordType: ImportRecordType) {
  importTemplates(recordType: $recordType) { name mapping } }"""
SET_MAPPING = """mutation($id: ID!, $mapping: JSON!, $onExisting: ImportOnExisting!,
  $currency: String) { setImportMapping(jobId: $id, mapping: $mapping,
  onExisting: $onExisting, defaultCurrency: $currency) { id status } }"""
START = """mutation($id: ID!, $dryRun: Boolean!) {
  startImport(jobId: $id, dryRun: $dryRun) { id status } }"""
UNDO = """mutation($id: ID!) { undoImport(jobId: $id) { id status removed } }"""
JOB = """query($id: ID!, $issues: Int!) { importJob(id: $id) { id status error dryRun
  progress { rowsRead created updated unchanged skipped failed warnings fraction }
  issues(first: $issues) { totalCount
    edges { node { row column field value severity message } } } } }"""


class ImportFailed(Exception):
    """The API refused a step: the message says which and why."""


class StillRunning(Exception):
    """`--timeout` passed with the job still going: it goes on in the platform (nothing is
    cancelled), so the script is told apart from a refusal or a failure."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="crm import",
        description="Import a CSV or XLSX file through the import API (the gateway).",
    )
    p.add_argument("record_type", choices=RECORD_TYPES)
    p.add_argument("file", type=Path)
    p.add_argument("--gateway-url", default=os.environ.get("CRM_GATEWAY_URL", DEFAULT_GATEWAY))
    p.add_argument(
        "--token",
        default=os.environ.get("CRM_TOKEN"),
        help="bearer token (default: $CRM_TOKEN, else a development token for --workspace)",
    )
    p.add_argument("--workspace", default="demo", help="for the development token")
    p.add_argument("--subject", default="admin", help="for the development token")
    p.add_argument("--role", default="admin", help="for the development token")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--mapping", type=Path, help="the mapping as a JSON file")
    source.add_argument("--template", help="a mapping template saved in the workspace")
    p.add_argument("--on-existing", choices=("skip", "update"), default="skip")
    p.add_argument("--currency", help="default ISO 4217 currency of amounts")
    p.add_argument("--dry-run", action="store_true", help="count and check, write nothing")
    p.add_argument("--show-issues", type=int, default=20, help="row issues printed (max 100)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds to follow the job")
    return p


def main(argv: list[str], out: TextIO = sys.stdout) -> int:
    if argv[:1] == ["undo"]:
        return undo_main(argv[1:], out)
    args = parser().parse_args(argv)
    if not args.file.is_file():
        print(f"crm import: no file {args.file}", file=sys.stderr)
        return USAGE
    try:
        token = args.token or _development_token(args.workspace, args.subject, args.role)
    except ValueError as error:
        print(f"crm import: {error}; pass --token", file=sys.stderr)
        return USAGE
    with httpx.Client(timeout=120.0) as http:
        client = ImportClient(http, args.gateway_url, token)
        try:
            return run_import(client, args, out)
        except ImportFailed as error:
            print(f"crm import: {error}", file=sys.stderr)
            return USAGE
        except StillRunning as error:
            print(f"crm import: {error}", file=sys.stderr)
            return STILL_RUNNING
        except httpx.TransportError as error:
            print(f"crm import: cannot reach {args.gateway_url} ({error})", file=sys.stderr)
            return JOB_FAILED


def undo_main(argv: list[str], out: TextIO) -> int:
    p = argparse.ArgumentParser(prog="crm import undo")
    p.add_argument("job_id")
    p.add_argument("--gateway-url", default=os.environ.get("CRM_GATEWAY_URL", DEFAULT_GATEWAY))
    p.add_argument("--token", default=os.environ.get("CRM_TOKEN"))
    p.add_argument("--workspace", default="demo")
    p.add_argument("--subject", default="admin")
    p.add_argument("--role", default="admin")
    args = p.parse_args(argv)
    token = args.token or _development_token(args.workspace, args.subject, args.role)
    with httpx.Client(timeout=120.0) as http:
        try:
            undone = ImportClient(http, args.gateway_url, token).data(UNDO, {"id": args.job_id})
        except ImportFailed as error:
            print(f"crm import undo: {error}", file=sys.stderr)
            return USAGE
    print(f"{args.job_id}: {undone['undoImport']['removed']} records removed", file=out)
    return OK


def _development_token(workspace: str, subject: str, role: str) -> str:
    roles = [r.strip() for r in role.split(",") if r.strip()]
    return issue_token(workspace, subject, roles, 3600)


class ImportClient:
    def __init__(self, http: httpx.Client, url: str, token: str) -> None:
        self.http, self.url, self.token = http, url, token

    def data(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        return _data(post_graphql(self.http, self.url, self.token, query, variables))

    def upload(self, path: Path, record_type: str) -> dict[str, Any]:
        operations = {
            "query": CREATE,
            "variables": {"file": None, "recordType": record_type.upper()},
            "operationName": "CreateImport",
        }
        headers = {"authorization": f"Bearer {self.token}", "idempotency-key": uuid4().hex}
        with path.open("rb") as handle:  # streamed, whatever the file's size
            response = self.http.post(
                self.url,
                headers=headers,
                data={"operations": json.dumps(operations), "map": '{"0": ["variables.file"]}'},
                files={"0": (path.name, handle, "application/octet-stream")},
            )
        if response.status_code == 413:
            raise ImportFailed(f"{path.name} is over the upload limit")
        try:
            body = response.json()
        except ValueError:
            raise ImportFailed(f"the gateway answered {response.status_code}") from None
        job: dict[str, Any] = _data(body)["createImport"]
        return job


def _data(body: dict[str, Any]) -> dict[str, Any]:
    errors = body.get("errors") or []
    if errors:
        raise ImportFailed("; ".join(_error_text(error) for error in errors))
    data: dict[str, Any] = body["data"]
    return data


def _error_text(error: dict[str, Any]) -> str:
    extensions = error.get("extensions") or {}
    field = extensions.get("field")
    code = extensions.get("code")
    where = f" ({field})" if field else ""
    return f"{error.get('message')}{where}" + (f" [{code}]" if code else "")


def run_import(client: ImportClient, args: argparse.Namespace, out: TextIO) -> int:
    job = client.upload(args.file, args.record_type)
    preview = job["preview"]
    print(f"import {job['id']}: {args.file.name} read as {_read_as(preview)}", file=out)
    for note in preview["notes"]:
        print(f"  note: {note}", file=out)
    mapping = _mapping(client, args, preview)
    variables = {
        "id": job["id"],
        "mapping": mapping,
        "onExisting": args.on_existing.upper(),
        "currency": args.currency,
    }
    try:
        client.data(SET_MAPPING, variables)
    except ImportFailed as error:
        print("  mapping used:\n" + json.dumps(mapping, indent=2), file=out)
        raise ImportFailed(f"the mapping was refused: {error}") from None
    client.data(START, {"id": job["id"], "dryRun": args.dry_run})
    ended = _follow(client, job["id"], args, out)
    return _report(ended, args, out)


def _read_as(preview: dict[str, Any]) -> str:
    parts = [preview["format"].upper()]
    if preview.get("encoding"):
        parts.append(preview["encoding"])
    if preview.get("delimiter"):
        parts.append("tab" if preview["delimiter"] == "\t" else repr(preview["delimiter"]))
    if preview.get("sheet"):
        parts.append(f"sheet {preview['sheet']!r}")
    columns = len(preview["header"])
    return f"{', '.join(parts)}; {columns} columns, header on row {preview['headerRow']}"


def _mapping(client: ImportClient, args: argparse.Namespace, preview: dict[str, Any]) -> Any:
    if args.mapping is not None:
        try:
            return json.loads(args.mapping.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ImportFailed(f"cannot read the mapping {args.mapping}: {error}") from None
    if args.template is not None:
        found = client.data(TEMPLATES, {"recordType": args.record_type.upper()})
        for template in found["importTemplates"]:
            if template["name"] == args.template:
                return template["mapping"]
        raise ImportFailed(f"no mapping template named {args.template!r} for {args.record_type}")
    suggested = preview.get("suggestedMapping")
    if suggested is None:
        raise ImportFailed("no column matched a field: pass --mapping FILE.json")
    return suggested


def _follow(
    client: ImportClient, job_id: str, args: argparse.Namespace, out: TextIO
) -> dict[str, Any]:
    deadline = time.monotonic() + args.timeout
    shown = -1
    issues = max(0, min(args.show_issues, 100))
    while True:
        job: dict[str, Any] = client.data(JOB, {"id": job_id, "issues": issues})["importJob"]
        read = job["progress"]["rowsRead"]
        if job["status"] in ENDED:
            return job
        if read != shown:
            print(f"  {job['status'].lower()}: {read} rows read", file=out, flush=True)
            shown = read
        if time.monotonic() > deadline:
            raise StillRunning(
                f"the job {job_id} is still {job['status']} after {args.timeout} s; it goes on "
                "(follow it with the importJob query, or cancel it with cancelImport)"
            )
        time.sleep(0.5)


def _report(job: dict[str, Any], args: argparse.Namespace, out: TextIO) -> int:
    progress = job["progress"]
    kind = "dry run" if job["dryRun"] else "import"
    counts = ", ".join(
        f"{progress[name]} {name}"
        for name in ("rowsRead", "created", "updated", "unchanged", "skipped", "failed")
    ).replace("rowsRead", "rows read")
    print(f"{kind} {job['status'].lower()}: {counts}", file=out)
    if job.get("error"):
        print(f"  error: {job['error']}", file=out)
    for edge in job["issues"]["edges"]:
        issue = edge["node"]
        where = issue.get("column") or issue.get("field") or ""
        value = f" {issue['value']!r}" if issue.get("value") else ""
        print(
            f"  row {issue['row']} {where}{value}: {issue['severity']}: {issue['message']}",
            file=out,
        )
    more = job["issues"]["totalCount"] - len(job["issues"]["edges"])
    if more > 0:
        print(f"  ... and {more} more issues (importJob(id: {job['id']!r}) lists them)", file=out)
    if job["status"] != "COMPLETED":
        return JOB_FAILED
    return ROWS_FAILED if progress["failed"] else OK

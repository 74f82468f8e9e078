"""Export downloads: `GET /exports/{id}/file` with the caller's bearer token, as for every
request (the export's `downloadUrl`). The gateway authenticates the caller, then fetches
the file from the imports subgraph (`crm_contracts.imports.DOWNLOAD_PATH`) with its
assertion for the caller, bound to the export's id, and streams it back as it comes, with
the service's content type, length and `Content-Disposition` file name. The service
serves a file only to the person who asked for the export, only until it expires; its
refusals (404, 401) pass through as JSON `{"error": {code, message}}`.

Why the token and not a signed link: a link in a browser's history, a proxy's log or a
forwarded email would hand the file to whoever holds it, and the file may hold the
workspace's addresses and amounts. The web client downloads with `fetch` and the token.
"""

from __future__ import annotations

import httpx
import orjson
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from crm_contracts import imports as contract
from crm_contracts.streams import RPC_HEADER_ASSERTION
from crm_gateway.imports_door import ImportsDoor
from crm_kit import telemetry
from crm_kit.context import RequestContext
from crm_kit.ids import is_id

PATH = contract.DOWNLOAD_PATH
# What passes from the service's answer to the client.
PASSED_HEADERS = ("content-type", "content-length", "content-disposition", "cache-control")


def refusal(status: int, code: str, message: str) -> Response:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    return Response(body, status_code=status, media_type="application/json")


class Downloads(ImportsDoor):
    """Export files, fetched from the import service for their creators."""

    async def fetch(self, export_id: str, caller: RequestContext) -> Response:
        """The export's file for `caller`, streamed from the imports subgraph."""
        if self.imports_url is None:
            return refusal(404, "NOT_FOUND", "This gateway serves no exports.")
        if not is_id(export_id):
            return refusal(404, "NOT_FOUND", "no such export")
        token = self._keys().mint(
            audience=contract.DOWNLOAD_AUDIENCE, context=caller, body=export_id.encode()
        )
        headers = {RPC_HEADER_ASSERTION: token}
        telemetry.inject(headers)
        url = f"{self.imports_url}{PATH.format(id=export_id)}"
        try:
            answer = await self._client.send(
                self._client.build_request("GET", url, headers=headers), stream=True
            )
        except httpx.HTTPError:
            return refusal(503, "SERVICE_UNAVAILABLE", "The import service did not answer.")
        if answer.status_code != 200:
            body = await answer.aread()
            await answer.aclose()
            status = answer.status_code if answer.status_code in (403, 404) else 503
            code = "NOT_FOUND" if status == 404 else "SERVICE_UNAVAILABLE"
            if status == 403:
                code = "FORBIDDEN"
            message = _message(body) or "The export's file is not available."
            return refusal(status, code, message)
        passed = {k: v for k, v in answer.headers.items() if k.lower() in PASSED_HEADERS}
        return StreamingResponse(
            answer.aiter_bytes(), headers=passed, background=BackgroundTask(answer.aclose)
        )


def _message(body: bytes) -> str | None:
    try:
        error = orjson.loads(body).get("error") or {}
    except (orjson.JSONDecodeError, AttributeError):
        return None
    message = error.get("message")
    return str(message) if message else None

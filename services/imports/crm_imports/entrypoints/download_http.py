"""`GET /exports/{id}/file`: the gateway fetches an export's file here for the person who
asked for it (`gateway/crm_gateway/downloads.py`) and streams it to them.

The request carries the gateway's assertion (`crm-assertion`: issuer `gateway`, audience
`download:imports`) for the caller, bound to the export's id; the file is served only to
the export's creator, only while it is completed and not expired, one stored chunk at a
time, with its content type and a `Content-Disposition: attachment` file name."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from crm_contracts import imports as contract
from crm_contracts.streams import RPC_HEADER_ASSERTION
from crm_kit.assertions import AssertionError_, KeyRing
from crm_kit.errors import CRMError

from ..usecases import exports
from ..usecases.export_scope import ExportScopes
from .upload_http import GATEWAY, error_response, status_of


class DownloadEndpoint:
    def __init__(
        self, scopes: Callable[[], ExportScopes | None], keys: Callable[[], KeyRing]
    ) -> None:
        self._scopes = scopes  # None until the runtime started
        self._keys = keys

    @property
    def routes(self) -> list[Route]:
        return [Route(contract.DOWNLOAD_PATH, self.download, methods=["GET"])]

    async def download(self, request: Request) -> Response:
        scopes = self._scopes()
        if scopes is None:
            return error_response(503, "UNAVAILABLE", "starting")
        export_id = request.path_params["id"]
        try:
            verified = self._keys().verify(
                request.headers.get(RPC_HEADER_ASSERTION),
                audience=contract.DOWNLOAD_AUDIENCE,
                issuers=(GATEWAY,),
                body=export_id.encode(),
            )
        except AssertionError_ as error:
            return error_response(401, "UNAUTHENTICATED", error.message)
        scope = scopes(verified.context)
        try:
            job = await exports.downloadable(scope, export_id)
        except CRMError as error:
            return error_response(status_of(error), error.code, error.message, error.field)
        assert job.file_name is not None
        headers = {
            "content-disposition": f'attachment; filename="{job.file_name}"',
            "content-length": str(job.size),
            "cache-control": "private, no-store",
        }
        return StreamingResponse(
            exports.file_parts(scope, job), media_type=job.content_type, headers=headers
        )

"""`POST /uploads`: the gateway forwards each file of a GraphQL multipart request here
(`gateway/crm_gateway/uploads.py`), and puts the answer's `uploadId` in the operation's
variables in place of the file.

The request carries the gateway's assertion (`crm-assertion`: issuer `gateway`, audience
`upload:imports`) bound to the manifest header (`crm-upload-manifest`: base64url JSON of
`crm_contracts.imports.UploadManifest`: name, type, size, SHA-256). The assertion is
checked before a byte of the body is read; the body is stored in chunks as it arrives and
kept only if its size and digest are the manifest's (`usecases.uploads.receive`)."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from crm_contracts import imports as contract
from crm_contracts.streams import RPC_HEADER_ASSERTION
from crm_kit.assertions import AssertionError_, KeyRing
from crm_kit.context import bind_request
from crm_kit.errors import CRMError

from ..usecases import uploads
from ..usecases.scope import Scopes

log = logging.getLogger(__name__)

GATEWAY = "gateway"


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status)


def status_of(error: CRMError) -> int:
    return {"FORBIDDEN": 403, "NOT_FOUND": 404, "UNAUTHENTICATED": 401}.get(error.code, 400)


class UploadEndpoint:
    def __init__(self, scopes: Callable[[], Scopes | None], keys: Callable[[], KeyRing]) -> None:
        self._scopes = scopes  # None until the runtime started
        self._keys = keys

    @property
    def routes(self) -> list[Route]:
        return [Route(contract.UPLOAD_PATH, self.upload, methods=["POST"])]

    async def upload(self, request: Request) -> JSONResponse:
        scopes = self._scopes()
        if scopes is None:
            return error_response(503, "UNAVAILABLE", "starting")
        raw = request.headers.get(contract.UPLOAD_MANIFEST_HEADER, "")
        try:
            signed = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        except (binascii.Error, ValueError):
            return error_response(400, "BAD_REQUEST", "malformed upload manifest")
        try:
            verified = self._keys().verify(
                request.headers.get(RPC_HEADER_ASSERTION),
                audience=contract.UPLOAD_AUDIENCE,
                issuers=(GATEWAY,),
                body=signed,
            )
        except AssertionError_ as error:
            return error_response(401, "UNAUTHENTICATED", error.message)
        try:
            manifest = contract.UploadManifest.model_validate_json(signed)
        except ValidationError:
            return error_response(400, "BAD_REQUEST", "not an upload manifest")
        bind_request(verified.context)
        try:
            stored = await uploads.receive(scopes(verified.context), manifest, _body(request))
        except CRMError as error:
            return error_response(status_of(error), error.code, error.message, error.field)
        finally:
            bind_request(None)
        answer = contract.UploadStored(upload_id=stored.id)
        return JSONResponse(answer.wire(), status_code=201)


async def _body(request: Request) -> AsyncIterator[bytes]:
    async for part in request.stream():
        if part:
            yield part

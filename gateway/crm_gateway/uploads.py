"""File uploads by the GraphQL multipart request spec
(https://github.com/jaydenseric/graphql-multipart-request-spec): a `multipart/form-data`
POST to /graphql whose parts are `operations` (the GraphQL request as JSON, with null
where each file goes), `map` (which file goes where: `{"0": ["variables.file"]}`) and the
files. Only the import service takes files, so only a gateway with an `imports` subgraph
accepts such a request.

Each file is spooled to disk as it arrives (Starlette's form parser: at most 1 MiB of a
file in memory), hashed, then streamed to the imports subgraph's upload door
(`crm_contracts.imports.UPLOAD_PATH`) with the gateway's assertion for the caller, bound to
a manifest naming the file's size and SHA-256 (the service keeps the body only if it
matches). The service's upload id takes the file's place in the variables, and the
operation then runs as any other. A file is never held whole in memory, here or there.

Bounds: the whole multipart body at most `MAX_UPLOAD_BYTES` (100 MiB) plus 1 MiB for the
other parts, else 413 (before reading, when Content-Length says so); at most
`MAX_FILES` files; `operations` and `map` at most 1 MiB each (the form parser's part
limit). Authentication is the bearer token as for every request (a header a browser sends
cross-origin only after a CORS preflight, so a form on another site cannot post here).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any, BinaryIO

import httpx
import orjson
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import Message

from crm_contracts import imports as contract
from crm_contracts.streams import RPC_HEADER_ASSERTION
from crm_gateway.imports_door import ImportsDoor
from crm_kit import telemetry
from crm_kit.context import RequestContext
from crm_kit.graphql_request import GraphQLRequest, RequestError, parse_graphql_request

MAX_UPLOAD_BYTES = contract.MAX_UPLOAD_BYTES
MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 1024 * 1024
MAX_FILES = 10
READ_BYTES = 1024 * 1024


def is_multipart(request: Request) -> bool:
    return request.method == "POST" and request.headers.get("content-type", "").lower().startswith(
        "multipart/form-data"
    )


class _TooLarge(Exception):
    pass


def _too_large() -> RequestError:
    return RequestError(
        f"An upload request has at most {MAX_BODY_BYTES} bytes (files up to {MAX_UPLOAD_BYTES}).",
        status=413,
        code="PAYLOAD_TOO_LARGE",
    )


class Uploads(ImportsDoor):
    """Files of a multipart request, stored with the import service."""

    async def read(self, request: Request, caller: RequestContext | None) -> GraphQLRequest:
        """The GraphQL request the multipart body carries, with each file stored at the
        import service and its upload id in the file's place; RequestError otherwise."""
        if self.imports_url is None:
            raise RequestError("This gateway takes no file uploads.", field="content-type")
        if caller is None:
            raise RequestError(
                "File uploads need an authenticated caller.", status=401, code="UNAUTHENTICATED"
            )
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise _too_large()
        bounded = Request(request.scope, _bounded(request.receive, MAX_BODY_BYTES))
        try:
            form = await bounded.form(max_files=MAX_FILES, max_fields=2)
        except _TooLarge:
            raise _too_large() from None
        except MultiPartException as error:
            raise RequestError(
                f"Malformed multipart request: {error.message}", field="content-type"
            ) from None
        try:
            operations = _json_part(form.get("operations"), "operations")
            mapping = _json_part(form.get("map"), "map")
            if not isinstance(operations, dict):
                raise RequestError(
                    "`operations` must be one GraphQL request (an object).", field="operations"
                )
            if not isinstance(mapping, dict) or not all(
                isinstance(paths, list) and all(isinstance(p, str) for p in paths)
                for paths in mapping.values()
            ):
                raise RequestError("`map` must map each file to a list of paths.", field="map")
            files: dict[str, UploadFile] = {}
            # Every path is checked (on a copy) before any file leaves: a request the spec
            # refuses stores nothing at the import service.
            rehearsal = copy.deepcopy(operations)
            for key, paths in mapping.items():
                upload = form.get(key)
                if not isinstance(upload, UploadFile):
                    raise RequestError(
                        f"`map` names file {key!r}, which was not sent.", field="map"
                    )
                files[key] = upload
                for path in paths:
                    _place(rehearsal, path, key)
            for key, paths in mapping.items():
                upload_id = await self._forward(files[key], caller)
                for path in paths:
                    _place(operations, path, upload_id)
        finally:
            await form.close()
        body = orjson.dumps(operations)
        return parse_graphql_request("POST", "application/json", body, request.query_params)

    async def _forward(self, upload: UploadFile, caller: RequestContext) -> str:
        size, digest = await asyncio.to_thread(_measure, upload.file)
        if size > MAX_UPLOAD_BYTES:
            raise _too_large()
        manifest = contract.UploadManifest(
            file_name=(upload.filename or "upload")[:255],
            content_type=(upload.content_type or None),
            size=size,
            sha256=digest,
        )
        signed = orjson.dumps(manifest.wire())
        token = self._keys().mint(audience=contract.UPLOAD_AUDIENCE, context=caller, body=signed)
        headers = {
            RPC_HEADER_ASSERTION: token,
            contract.UPLOAD_MANIFEST_HEADER: base64.urlsafe_b64encode(signed).decode(),
            "content-type": "application/octet-stream",
            "content-length": str(size),
        }
        telemetry.inject(headers)
        try:
            answer = await self._client.post(
                f"{self.imports_url}{contract.UPLOAD_PATH}",
                content=_chunks(upload.file),
                headers=headers,
            )
        except httpx.HTTPError:
            raise RequestError(
                "The import service did not take the file; try again.",
                status=503,
                code="SERVICE_UNAVAILABLE",
            ) from None
        if answer.status_code != 201:
            raise _refused(answer)
        return contract.UploadStored.model_validate_json(answer.content).upload_id


def _refused(answer: httpx.Response) -> RequestError:
    """The service's refusal, as the client's error (its code and field)."""
    try:
        error = orjson.loads(answer.content).get("error") or {}
    except (orjson.JSONDecodeError, AttributeError):
        error = {}
    code = str(error.get("code") or "SERVICE_UNAVAILABLE")
    status = answer.status_code if 400 <= answer.status_code < 500 else 503
    if code == "UNAUTHENTICATED":  # the gateway's own assertion refused: not the client's
        code, status = "SERVICE_UNAVAILABLE", 503
    message = str(error.get("message") or "The import service refused the file.")
    return RequestError(message, status=status, code=code, field=error.get("field") or "file")


def _json_part(value: Any, name: str) -> Any:
    if not isinstance(value, str):
        raise RequestError(f"The multipart request has no `{name}` field.", field=name)
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        raise RequestError(f"`{name}` is not JSON.", field=name) from None


def _place(operations: dict[str, Any], path: str, value: str) -> None:
    """Put `value` at a `map` path (`variables.file`, `variables.files.0`): only into
    variables, and only where the client left null."""
    parts = path.split(".")
    if len(parts) < 2 or parts[0] != "variables":
        raise RequestError(f"`map` path {path!r} is not inside `variables`.", field="map")
    node: Any = operations
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if isinstance(node, dict) and part in node:
            if last:
                if node[part] is not None:
                    raise RequestError(
                        f"`map` path {path!r} is not null in `operations`.", field="map"
                    )
                node[part] = value
                return
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            if last:
                if node[int(part)] is not None:
                    raise RequestError(
                        f"`map` path {path!r} is not null in `operations`.", field="map"
                    )
                node[int(part)] = value
                return
            node = node[int(part)]
        else:
            break
    raise RequestError(f"`map` path {path!r} is not in `operations`.", field="map")


def _measure(file: BinaryIO) -> tuple[int, str]:
    file.seek(0)
    digest = hashlib.sha256()
    size = 0
    while block := file.read(READ_BYTES):
        size += len(block)
        digest.update(block)
    file.seek(0)
    return size, digest.hexdigest()


async def _chunks(file: BinaryIO) -> AsyncIterator[bytes]:
    file.seek(0)
    while block := await asyncio.to_thread(file.read, READ_BYTES):
        yield block


def _bounded(receive: Callable[[], Any], limit: int) -> Callable[[], Any]:
    """`receive` that stops the read once the body passes `limit` bytes."""
    seen = 0

    async def bounded() -> Message:
        nonlocal seen
        message: Message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
        return message

    return bounded

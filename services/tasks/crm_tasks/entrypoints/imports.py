"""The import batch endpoints of tasks (`crm_contracts.import_batches`)."""

from __future__ import annotations

from typing import Any

from crm_contracts.import_batches import ImportBatchRequest
from crm_kit.context import RequestContext
from crm_kit.imports import ImportSink, batch_endpoint, undo_endpoint
from crm_kit.rpc import Endpoint

from ..usecases import imports
from ..usecases.scope import Scopes


def import_endpoints(scopes: Scopes, directory: imports.Directory | None) -> list[Endpoint]:
    def tasks(caller: RequestContext, request: ImportBatchRequest) -> ImportSink[Any]:
        scope = scopes(caller)
        scope.require_write()
        return imports.TaskSink(scope, request.job_id, directory)

    async def undo(caller: RequestContext, job_id: str) -> int:
        return await imports.undo_import(scopes(caller), job_id)

    return [batch_endpoint("tasks", tasks), undo_endpoint("tasks", undo)]

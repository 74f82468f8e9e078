"""Request/reply endpoint `rpc.deals.win_model.train`: (re)train a pipeline's win model
inside the service, through its write path (what `crm demo` calls after importing).
Admins only, as the GraphQL retrain: the operators' tools (`cli`) call it."""

from __future__ import annotations

from typing import Any

from crm_contracts import deals as contract
from crm_kit.context import RequestContext
from crm_kit.errors import CRMError, NotFound
from crm_kit.rpc import ADMIN, Endpoint, RpcError

from ..events.publish import win_model_trained
from ..usecases.scope import Scopes, service_caller
from ..usecases.win_model import SYSTEM_SUBJECT, train_now


def win_model_endpoints(scopes: Scopes) -> list[Endpoint]:
    async def train(caller: RequestContext, payload: dict[str, Any]) -> Any:
        pipeline_id = payload.get("pipelineId")
        if pipeline_id is not None and not isinstance(pipeline_id, str):
            raise RpcError("BAD_REQUEST", "pipelineId must be a string")
        # The training's deal updates are the system's (`updatedBy`), not the operator's.
        scope = scopes(service_caller(caller.workspace_id, SYSTEM_SUBJECT))
        try:
            done = await train_now(scope, pipeline_id)
        except NotFound as error:
            raise RpcError("NOT_FOUND", error.message) from None
        except CRMError as error:
            raise RpcError("BAD_REQUEST", error.message) from None
        return {**win_model_trained(done.model).data, "dealsUpdated": done.deals_updated}

    return [
        Endpoint(
            "win-model-train",
            contract.RPC_WIN_MODEL_TRAIN,
            train,
            "train a pipeline's win model and apply its estimates to open deals",
            roles=ADMIN,
            callers=frozenset({"cli"}),
        )
    ]

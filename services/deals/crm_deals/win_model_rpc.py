"""Request/reply endpoint `rpc.deals.win_model.train`: (re)train a pipeline's win model
inside the service, under its document locks (what `crm demo` calls after importing).
Admins only, as the GraphQL retrain: the operators' tools (`cli`) call it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crm_contracts import deals as contract
from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, CRMError, NotFound
from crm_kit.rpc import ADMIN, Endpoint, RpcError

from .events.publish import win_model_trained
from .store.documents import document_stores_for
from .store.protocol import StoreFactory
from .store.win_models import WinModelStores
from .usecases.context import Actor
from .usecases.deals import DealService
from .usecases.win_model import SYSTEM_SUBJECT, ModelEstimator, WinModelService


def win_model_endpoints(
    stores: StoreFactory,
    models: WinModelStores,
    notify: Callable[[str, str], None] = lambda collection, doc_id: None,
) -> list[Endpoint]:
    async def train(caller: RequestContext, payload: dict[str, Any]) -> Any:
        workspace = caller.workspace_id
        pipeline_id = payload.get("pipelineId")
        if pipeline_id is not None and not isinstance(pipeline_id, str):
            raise RpcError("BAD_REQUEST", "pipelineId must be a string")
        actor = Actor(
            RequestContext(workspace, SYSTEM_SUBJECT, frozenset({"admin"})), notify=notify
        )
        model_store = models.for_workspace(workspace)
        deals = DealService(stores.for_workspace(workspace), actor, ModelEstimator(model_store))
        service = WinModelService(deals, model_store, document_stores_for(stores))
        try:
            model = await service.train_now(pipeline_id)
        except NotFound as error:
            raise RpcError("NOT_FOUND", error.message) from None
        except (BadUserInput, CRMError) as error:
            raise RpcError("BAD_REQUEST", error.message) from None
        return {**win_model_trained(model).data, "dealsUpdated": service.last_applied}

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

"""Per-request GraphQL context: the caller, the workspace-scoped use cases and loaders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from crm_kit.context import RequestContext

from ..store.protocol import StoreFactory
from ..usecases.context import Actor, utc_now
from ..usecases.deals import DealService
from .loaders import Loaders


@dataclass
class DealsContext:
    request: RequestContext
    deals: DealService
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.deals)

    @property
    def now(self) -> datetime:
        return self.deals.actor.clock()


def make_context(
    stores: StoreFactory,
    request: RequestContext,
    *,
    notify: Callable[[str, str], None] = lambda collection, doc_id: None,
    clock: Callable[[], datetime] = utc_now,
) -> DealsContext:
    """The store is scoped to the caller's workspace here, once, for the whole request."""
    actor = Actor(request, clock=clock, notify=notify)
    return DealsContext(request, DealService(stores.for_workspace(request.workspace_id), actor))

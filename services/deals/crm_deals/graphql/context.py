"""Per-request GraphQL context: the caller, the workspace-scoped use cases and loaders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from crm_kit.context import RequestContext

from ..store.documents import DocumentStores, document_stores_for
from ..store.forecast_snapshots import SnapshotStores, snapshot_stores_for
from ..store.protocol import StoreFactory
from ..store.win_models import WinModelStores, win_model_stores_for
from ..usecases.analytics import AnalyticsService
from ..usecases.context import Actor, utc_now
from ..usecases.deals import DealService
from ..usecases.forecasting import ForecastingService
from ..usecases.rates import RatesService
from ..usecases.win_model import ModelEstimator, Spawn, WinModelService
from .loaders import Loaders


@dataclass
class DealsContext:
    request: RequestContext
    deals: DealService
    win_model: WinModelService | None = None
    snapshots: SnapshotStores | None = None
    documents: DocumentStores | None = None
    loaders: Loaders = field(init=False)
    analytics: AnalyticsService = field(init=False)
    rates: RatesService = field(init=False)
    forecasting: ForecastingService = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.deals)
        store = self.snapshots.for_workspace(self.request.workspace_id) if self.snapshots else None
        self.rates = RatesService(self.documents, self.deals.actor)
        self.analytics = AnalyticsService(self.deals, store, self.rates)
        self.forecasting = ForecastingService(self.deals, self.documents, self.rates, store)

    @property
    def now(self) -> datetime:
        return self.deals.actor.clock()


def make_context(
    stores: StoreFactory,
    request: RequestContext,
    *,
    notify: Callable[[str, str], None] = lambda collection, doc_id: None,
    clock: Callable[[], datetime] = utc_now,
    win_models: WinModelStores | None = None,
    snapshots: SnapshotStores | None = None,
    documents: DocumentStores | None = None,
    spawn: Spawn | None = None,
) -> DealsContext:
    """The store is scoped to the caller's workspace here, once, for the whole request."""
    actor = Actor(request, clock=clock, notify=notify)
    store = stores.for_workspace(request.workspace_id)
    models = win_models or win_model_stores_for(stores)
    snaps = snapshots or snapshot_stores_for(stores)
    docs = documents or document_stores_for(stores)
    if models is None:
        return DealsContext(request, DealService(store, actor), snapshots=snaps, documents=docs)
    model_store = models.for_workspace(request.workspace_id)
    deals = DealService(store, actor, ModelEstimator(model_store, docs))
    service = WinModelService(deals, model_store, docs, spawn)
    return DealsContext(request, deals, service, snaps, docs)

"""The learned win model applied to one deal: the estimate a deal gets when it is created
or enters a stage, and the explanation of it."""

from __future__ import annotations

from ..domain.deal import Deal
from ..domain.pipeline import Pipeline
from ..domain.win_features import CompanyFact, DealHistory
from ..domain.win_model import Prediction, WinModel
from ..domain.win_training import context_for
from .scope import Scope


async def model_of(scope: Scope, pipeline_id: str) -> WinModel | None:
    return await scope.store.get_model(pipeline_id)


async def _facts_of(scope: Scope, company_id: str | None) -> dict[str, CompanyFact]:
    if not company_id:
        return {}
    found = await scope.store.get_company_facts(company_id)
    if found is None or found.deleted:
        return {}
    return {company_id: CompanyFact(found.industry, found.size)}


async def predict(scope: Scope, deal: Deal, pipeline: Pipeline) -> Prediction | None:
    """The deal's prediction now with its contributions (None: no model trained)."""
    model = await model_of(scope, deal.pipeline_id)
    if model is None:
        return None
    facts = await _facts_of(scope, deal.company_id)
    return model.predict(DealHistory.of(deal), scope.now(), context_for(pipeline, facts))


async def estimate(scope: Scope, deal: Deal, pipeline: Pipeline) -> int | None:
    """The model's probability for the deal as it is now; None when the pipeline has no
    usable model or the model defers to the stage default."""
    model = await model_of(scope, deal.pipeline_id)
    if model is None or not model.usable:
        return None
    prediction = await predict(scope, deal, pipeline)
    if prediction is None or prediction.source != "MODEL":
        return None
    return prediction.probability

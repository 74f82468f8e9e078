"""Pipelines held per process (`crm_deals.store.pipeline_cache`) on a real FerretDB: two
deals apps on one database; a pipeline one of them holds (it moved a deal with it) and the
other changes is used as changed by the first at once (read-your-writes across replicas,
through the pipelines' change log), and a change of its own too. Moves of the moment share
the journal probe instead of reading the pipeline each."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from crm_deals.app import create_app
from crm_deals.store.pipeline_cache import PipelineCache
from crm_kit.settings import Settings
from crm_kit.testing import GraphQLClient, gateway_auth, running_app

# The embedded database's profile only (`auto` detects FerretDB: the read index on):
# the conftest's `settings`, given one of its profiles.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("settings", ["auto"], indirect=True),
]

PIPELINE = """mutation($input: CreatePipelineInput!) { createPipeline(input: $input) {
  id version } }"""
UPDATE = """mutation($id: ID!, $input: UpdatePipelineInput!) { updatePipeline(id: $id,
  input: $input) { id version } }"""
CREATE = """mutation($input: CreateDealInput!) { createDeal(input: $input) { id } }"""
MOVE = """mutation($id: ID!, $s: String!) { moveDeal(id: $id, stageKey: $s) {
  id stage { key } } }"""


def stages(*keys: str) -> list[dict[str, Any]]:
    return [{"key": k, "name": k.title(), "probability": 10 * (n + 1)} for n, k in enumerate(keys)]


@contextlib.asynccontextmanager
async def instance(settings: Settings) -> AsyncIterator[tuple[GraphQLClient, PipelineCache]]:
    app = create_app(settings)
    async with running_app(app) as http:
        cache = app.state.store.pipeline_cache
        assert isinstance(cache, PipelineCache)
        yield GraphQLClient(http, gateway_auth("deals", "w1", "alice", "admin")), cache


async def test_a_pipeline_changed_by_another_instance_is_used_as_changed_at_once(
    settings: Settings,
) -> None:
    async with instance(settings) as (a, held), instance(settings) as (b, _):
        made = await a.data(PIPELINE, {"input": {"name": "Sales", "stages": stages("x", "y")}})
        pipeline_id = made["createPipeline"]["id"]

        async def new_deal() -> str:
            created = await a.data(
                CREATE,
                {"input": {"title": "D", "amount": "10", "pipelineId": pipeline_id}},
            )
            return str(created["createDeal"]["id"])

        first, second = await new_deal(), await new_deal()
        moved = await a.data(MOVE, {"id": first, "s": "y"})
        assert moved["moveDeal"]["stage"]["key"] == "y"
        reads = held.reads
        await a.data(MOVE, {"id": first, "s": "x"})
        assert held.reads == reads and held.hits >= 1  # held: no pipeline read
        # b renames the stages; a's very next move knows it.
        await b.data(UPDATE, {"id": pipeline_id, "input": {"stages": stages("x", "z")}})
        moved = await a.data(MOVE, {"id": second, "s": "z"})
        assert moved["moveDeal"]["stage"]["key"] == "z"
        refused = await a.execute(MOVE, {"id": first, "s": "y"})
        assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        # a's own change, the same.
        await a.data(UPDATE, {"id": pipeline_id, "input": {"stages": stages("x", "w")}})
        moved = await a.data(MOVE, {"id": first, "s": "w"})
        assert moved["moveDeal"]["stage"]["key"] == "w"

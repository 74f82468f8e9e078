"""Deals contract: the committed SDL is the exported one; the published event examples
(and the README's copies of them) validate against `crm_contracts.deals` as a consumer
such as the tasks service reads them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from crm_contracts import deals as contract
from crm_contracts.envelope import SUBJECT_PATTERN, service_of
from crm_deals.events.examples import MODELS, examples
from crm_deals.export_schema import sdl

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "services" / "deals"


def test_committed_schema_is_the_exported_one() -> None:
    committed = (SERVICE / "schema.graphql").read_text()
    assert committed == sdl(), (
        "services/deals/schema.graphql is stale: "
        "run `python -m crm_deals.export_schema > services/deals/schema.graphql`"
    )


def test_schema_uses_federation_2_9_and_the_acceptance_names() -> None:
    text = sdl()
    assert '@link(url: "https://specs.apollo.dev/federation/v2.9"' in text
    for needle in (
        'type Deal @key(fields: "id")',
        'type Pipeline @key(fields: "id")',
        'type Contact @key(fields: "id")',
        'type Company @key(fields: "id")',
        "moveDeal(id: ID!, stageKey: String!, override: Boolean! = false): Deal!",
        "closeDealWon(id: ID!): Deal!",
        "closeDealLost(id: ID!, reason: String = null): Deal!",
        "pipelineBoard(pipelineId: ID = null, ownerId: String = null, text: String = null): "
        "PipelineBoard!",
        "createDeal(input: CreateDealInput!): Deal!",
    ):
        assert needle in text, needle


def test_every_published_subject_has_a_valid_example() -> None:
    found = examples()
    published = {
        value
        for name, value in vars(contract).items()
        if name.isupper() and isinstance(value, str) and value.startswith("crm.")
    }
    assert set(found) == published
    for subject, data in found.items():
        assert SUBJECT_PATTERN.match(subject) and service_of(subject) == "deals"
        MODELS[subject].model_validate(data)


def test_stage_changed_carries_what_the_tasks_service_needs() -> None:
    payload = contract.DealStageChanged.model_validate(examples()[contract.DEAL_STAGE_CHANGED])
    assert payload.stage_change_id and payload.to_stage == "engaging"
    assert [t.key for t in payload.playbook] == ["product_demo", "technical_review"]
    assert payload.playbook[1].assignee.rule == "team"
    assert payload.playbook[1].assignee.team_id == "solutions-engineering"
    assert payload.owner_id == payload.deal.owner_id


def _readme_examples() -> dict[str, dict]:
    text = (SERVICE / "README.md").read_text()
    blocks = re.findall(r"#### `(crm\.deals\.[a-z_.0-9]+)`.*?```json\n(.*?)```", text, re.S)
    return {subject: json.loads(body) for subject, body in blocks}


def test_readme_examples_validate() -> None:
    documented = _readme_examples()
    assert set(documented) == set(examples())
    for subject, data in documented.items():
        MODELS[subject].model_validate(data)

"""Placeholders render in playbook task titles and rule texts, and a rule naming one its
trigger's events do not carry is refused when saved."""

from __future__ import annotations

from typing import Any

from crm_tasks.domain.queries import TaskFilter
from crm_tasks.events import examples

from .conftest import T0, FakeStore, Inbound

CREATE_RULE = """mutation($in: CreateAutomationRuleInput!) {
  createAutomationRule(input: $in) { id } }"""


async def test_playbook_titles_render_the_deal(inbound: Inbound, store: FakeStore) -> None:
    playbook = [
        {
            "key": "a",
            "title": "Call {{ deal.title }} about {{deal.amount}}",
            "description": "Owner {{owner.id}}, company {{company.id}}, "
            "close {{deal.expectedCloseDate}}",
        }
    ]
    event = examples.stage_changed(
        deal_id="d1", title="Acme rack", company_id="co1", playbook=playbook
    )
    await inbound.deliver(event)
    [task] = await store.for_workspace("w1").find_tasks(TaskFilter(), T0)
    assert task.title == "Call Acme rack about 12500.00 USD"
    assert task.description == "Owner owner-1, company co1, close "


async def test_rule_texts_render_deal_placeholders_and_payload_paths(
    caller: Any, inbound: Inbound, store: FakeStore
) -> None:
    rule = {
        "name": "Entered {{toStage}}",
        "trigger": "DEAL_STAGE_CHANGED",
        "actions": [
            {
                "type": "CREATE_TASK",
                "task": {"title": "{{deal.title}}: {{deal.amount}} in {{toStage}}"},
            }
        ],
    }
    await caller.data(CREATE_RULE, {"in": rule})
    await inbound.deliver(examples.stage_changed(title="Acme", to_stage="proposal", playbook=[]))
    [task] = await store.for_workspace("w1").find_tasks(TaskFilter(), T0)
    assert task.title == "Acme: 12500.00 USD in proposal"


async def test_an_unknown_placeholder_is_refused_with_its_field(caller: Any) -> None:
    def rule(title: str, trigger: str = "DEAL_WON") -> dict[str, Any]:
        return {
            "name": "r",
            "trigger": trigger,
            "actions": [{"type": "NOTIFY", "userId": "u1", "title": title}],
        }

    error = await caller.error(CREATE_RULE, {"in": rule("Won {{deal.titel}}")})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.actions.0.title"}
    assert "deal.titel" in error["message"]
    # Not carried by any event: refused rather than rendered blank.
    for name in ("company.name", "owner.name", "deal"):
        error = await caller.error(CREATE_RULE, {"in": rule(f"{{{{{name}}}}}")})
        assert error["extensions"]["code"] == "BAD_USER_INPUT", name
    # A deal placeholder means nothing for a contact's event; its own payload paths do.
    error = await caller.error(CREATE_RULE, {"in": rule("{{deal.title}}", "CONTACT_CREATED")})
    assert error["extensions"]["field"] == "input.actions.0.title"
    await caller.data(CREATE_RULE, {"in": rule("{{contact.email}}", "CONTACT_CREATED")})
    await caller.data(CREATE_RULE, {"in": rule("{{deal.amount}} {{closedAt}}")})

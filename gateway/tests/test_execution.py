"""Executing plans against fake subgraphs: merging, batching, errors, headers."""

from __future__ import annotations

from typing import Any

from crm_gateway.gateway import Gateway, GatewayRequest

PIPELINE = """
query Board($id: ID!) {
  pipelineBoard(pipelineId: $id) {
    columns {
      name
      total
      deals {
        title
        company { name }
        primaryContact {
          firstName
          lastName
          interactions(first: 3) { kind subject }
        }
        tasks(status: OPEN) { title dueAt assigneeId }
      }
    }
  }
}
"""


async def run(
    gw: Gateway, query: str, variables: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    resp = await gw.execute(GatewayRequest(query=query, variables=variables, **kw))
    return resp.body


async def test_pipeline_board_crosses_three_subgraphs(gateway, world) -> None:
    body = await run(gateway, PIPELINE, {"id": "p1"})
    assert "errors" not in body, body
    lead = body["data"]["pipelineBoard"]["columns"][0]
    assert lead["name"] == "lead" and lead["total"] == 1000
    deal = lead["deals"][0]
    assert deal["company"] == {"name": "Acme"}
    assert deal["primaryContact"]["firstName"] == "Ada"
    assert len(deal["primaryContact"]["interactions"]) == 3
    assert deal["tasks"] == [{"title": "Call Ada", "dueAt": "2024-02-01", "assigneeId": "u1"}]


async def test_entities_are_batched_one_call_per_subgraph_per_level(gateway, world) -> None:
    await run(gateway, PIPELINE, {"id": "p1"})
    # company (Company) and primaryContact (Contact) sit at different paths and types, yet
    # contacts gets a single _entities call; tasks gets one for all deals.
    assert len(world.entity_calls("contacts")) == 1
    assert len(world.entity_calls("tasks")) == 1
    reps = world.entity_calls("contacts")[0].variables["representations"]
    # co1 is the company of both deals: de-duplicated.
    assert sorted((r["__typename"], r["id"]) for r in reps) == [
        ("Company", "co1"),
        ("Contact", "c1"),
        ("Contact", "c2"),
    ]


async def test_pipeline_plan_has_one_fetch_per_subgraph_per_level(gateway) -> None:
    from crm_gateway.plan import FlattenNode, ParallelNode, SequenceNode

    plan = gateway.plan_for(PIPELINE, "Board")
    assert isinstance(plan.node, SequenceNode)
    for level in plan.node.nodes:
        fetches = level.nodes if isinstance(level, ParallelNode) else [level]
        services = [(f.node if isinstance(f, FlattenNode) else f).service_name for f in fetches]
        assert len(services) == len(set(services)), services


async def test_requires_with_arguments_feeds_the_representation(gateway, world) -> None:
    body = await run(gateway, "{ deals { id riskScore } }")
    assert body["data"]["deals"][0] == {"id": "d1", "riskScore": 20}  # 1000 * 2 EUR / 100
    rep = world.entity_calls("tasks")[0].variables["representations"][0]
    assert rep == {"__typename": "Deal", "id": "d1", "amountIn": 2000}


async def test_provides_avoids_a_hop(gateway, world) -> None:
    body = await run(gateway, "{ deals { companyPreview { name } } }")
    assert body["data"]["deals"][0]["companyPreview"] == {"name": "Acme (provided)"}
    assert [c.subgraph for c in world.calls] == ["deals"]


async def test_shareable_field_is_taken_where_we_already_are(gateway, world) -> None:
    body = await run(gateway, "{ tasks { deal { title } } }")
    assert body["data"]["tasks"][0]["deal"] == {"title": "Big deal"}
    assert [c.subgraph for c in world.calls] == ["tasks"]


async def test_override_sends_the_field_to_the_new_owner(gateway, world) -> None:
    body = await run(gateway, '{ deal(id: "d1") { probability } }')
    assert body["data"] == {"deal": {"probability": 42}}
    assert "probability" in world.entity_calls("tasks")[0].query
    assert "probability" not in world.calls_to("deals")[0].query


async def test_compound_and_nested_keys(gateway, world) -> None:
    body = await run(
        gateway,
        "{ deals { history { toStage playbookTasks { title } } } "
        "tasks { assignee { displayName } } }",
    )
    assert body["data"]["deals"][0]["history"][0]["playbookTasks"] == [{"title": "Call Ada"}]
    assert body["data"]["tasks"][0]["assignee"] == {"displayName": "Grace Hopper"}
    reps = [r for c in world.entity_calls("tasks") for r in c.variables["representations"]]
    assert {"__typename": "StageChange", "dealId": "d1", "at": "2024-01-01"} in reps
    person = world.entity_calls("contacts")[0].variables["representations"][0]
    assert person == {"__typename": "Person", "org": {"id": "o1"}, "login": "grace"}


async def test_multiple_keys_resolvable_false_stub(gateway, world) -> None:
    # Deal.primaryContact is a `resolvable: false` stub in deals: contacts resolves it.
    body = await run(gateway, '{ deal(id: "d2") { primaryContact { lastName } } }')
    assert body["data"] == {"deal": {"primaryContact": {"lastName": "Turing"}}}


async def test_interface_object_fields_and_concrete_fragments(gateway, world) -> None:
    q = (
        '{ contact(id: "c1") { activities { __typename subject followUps { title } '
        "... on Note { body } } } }"
    )
    body = await run(gateway, q)
    assert body["data"]["contact"]["activities"] == [
        {"__typename": "Call", "subject": "Intro call", "followUps": [{"title": "Follow up"}]},
        {"__typename": "Note", "subject": "Notes", "followUps": [], "body": "Likes tea"},
    ]
    reps = world.entity_calls("tasks")[0].variables["representations"]
    assert all(r["__typename"] == "Activity" for r in reps)


async def test_unions_fragments_aliases_variables_typename(gateway) -> None:
    q = """
    query Find($term: String!) {
      hits: search(term: $term) {
        kind: __typename
        ...C
        ... on Company { label: name }
      }
    }
    fragment C on Contact { first: firstName openTaskCount }
    """
    body = await run(gateway, q, {"term": "a"})
    assert body["data"] == {
        "hits": [
            {"kind": "Contact", "first": "Ada", "openTaskCount": 2},
            {"kind": "Company", "label": "Acme"},
        ]
    }


async def test_union_member_only_one_subgraph_knows(gateway) -> None:
    q = (
        "{ feed { __typename ... on Deal { title tasks(status: OPEN) { id } } "
        "... on StageChange { at } } }"
    )
    body = await run(gateway, q)
    assert body["data"]["feed"] == [
        {"__typename": "Deal", "title": "Big deal", "tasks": [{"id": "t1"}]},
        {"__typename": "StageChange", "at": "2024-01-01"},
    ]


async def test_skip_and_include_with_variables(gateway, world) -> None:
    q = """query($withTasks: Boolean!, $noTitle: Boolean!) {
      deals { title @skip(if: $noTitle) tasks @include(if: $withTasks) { id } }
    }"""
    body = await run(gateway, q, {"withTasks": False, "noTitle": True})
    assert body["data"]["deals"][0] == {}
    assert [c.subgraph for c in world.calls] == ["deals"]
    world.calls.clear()
    body = await run(gateway, q, {"withTasks": True, "noTitle": False})
    assert body["data"]["deals"][0] == {"title": "Big deal", "tasks": [{"id": "t1"}, {"id": "t2"}]}
    plan = gateway.plan_for(q, None)
    assert plan.to_json()["node"]["kind"] == "Condition"


async def test_mutations_run_root_fields_in_order(gateway, world) -> None:
    q = """mutation {
      a: moveDeal(id: "d1", stage: "won") { stage }
      t: createTask(title: "x") { id }
      b: renameDeal(id: "d1", title: "New") { title tasks { id } }
    }"""
    body = await run(gateway, q)
    assert "errors" not in body, body
    assert world.mutations == ["move:d1:won", "create:x", "rename:d1:New"]
    assert body["data"]["b"] == {"title": "New", "tasks": [{"id": "t1"}, {"id": "t2"}]}
    kinds = [c.subgraph for c in world.calls]
    assert kinds == ["deals", "tasks", "deals", "tasks"]


async def test_introspection_is_answered_by_the_gateway(gateway, world) -> None:
    q = '{ __schema { queryType { name } } __type(name: "Contact") { fields { name } } }'
    body = await run(gateway, q)
    names = [f["name"] for f in body["data"]["__type"]["fields"]]
    assert "secretNote" not in names and "firstName" in names
    assert body["data"]["__schema"] == {"queryType": {"name": "Query"}}
    assert world.calls == []
    body = await run(gateway, "{ __typename contacts { __typename id } }")
    assert body["data"]["__typename"] == "Query"
    assert body["data"]["contacts"][0] == {"__typename": "Contact", "id": "c1"}


async def test_null_entity_leaves_null_at_the_client_path(gateway) -> None:
    body = await run(gateway, '{ deal(id: "d3") { title company { name } } }')
    # contacts has no company "nope": the nullable field is null, non-null name bubbles.
    assert body["data"] == {"deal": {"title": "Ghost deal", "company": None}}


async def test_subgraph_errors_are_mapped_to_client_paths(gateway, world) -> None:
    world.subgraphs["tasks"].errors_for = lambda v: (
        [{"message": "boom", "path": ["_entities", 1, "tasks"]}] if "representations" in v else []
    )
    body = await run(gateway, "{ deals { id tasks { id } } }")
    err = body["errors"][0]
    assert err["message"] == "boom"
    assert err["path"] == ["deals", 1, "tasks"]
    assert err["extensions"]["serviceName"] == "tasks"


async def test_subgraph_down_gives_partial_data_and_names_it(gateway, world) -> None:
    world.subgraphs["tasks"].down = True
    body = await run(gateway, '{ deal(id: "d1") { title primaryContact { openTaskCount } } }')
    assert body["data"] == {"deal": {"title": "Big deal", "primaryContact": None}}
    err = body["errors"][0]
    assert "'tasks'" in err["message"]
    assert err["extensions"] == {
        "code": "SERVICE_UNAVAILABLE",
        "serviceName": "tasks",
        "retryable": True,
    }
    assert err["path"] == ["deal", "primaryContact"]


async def test_subgraph_timeout_gives_partial_data(supergraph_sdl, world) -> None:
    world.subgraphs["contacts"].delay = 0.5
    gw = Gateway(supergraph_sdl, transport=world.transport, subgraph_timeout=0.05)
    try:
        body = await run(gw, '{ deals { title } contact(id: "c1") { id } }')
    finally:
        await gw.aclose()
    assert body["data"]["deals"][0] == {"title": "Big deal"}
    assert body["data"]["contact"] is None
    assert body["errors"][0]["extensions"] == {
        "code": "SUBGRAPH_TIMEOUT",
        "serviceName": "contacts",
        "retryable": True,
    }


async def test_headers_are_forwarded(gateway, world) -> None:
    headers = {
        "authorization": "Bearer t",
        "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
        "x-request-id": "r1",
    }
    await run(gateway, "{ deals { tasks { id } } }", headers=headers)
    for call in world.calls:
        assert call.headers["authorization"] == "Bearer t"
        assert call.headers["x-request-id"] == "r1"
        assert call.headers["traceparent"].startswith("00-" + "a" * 32)


async def test_fetches_in_one_level_run_concurrently(gateway, world) -> None:
    world.subgraphs["contacts"].delay = 0.2
    world.subgraphs["deals"].delay = 0.2
    await run(gateway, "{ deals { id } contacts { id } }")
    # Sent one after the other, the two fetches would never be in the subgraphs at once
    # (whatever the machine's speed: no timing measured).
    assert world.most_in_delay == 2


async def test_a_timed_out_mutation_is_repeatable_only_with_an_idempotency_key(
    supergraph_sdl, world
) -> None:
    """Its fate is unknown; repeating it blindly could apply it twice, repeating it with
    the same key cannot (the subgraph answers from the key)."""
    world.subgraphs["tasks"].delay = 0.5
    gw = Gateway(supergraph_sdl, transport=world.transport, subgraph_timeout=0.05)
    mutation = 'mutation { createTask(title: "x") { id } }'
    try:
        bare = await run(gw, mutation)
        keyed = await run(gw, mutation, headers={"idempotency-key": "k-1"})
    finally:
        await gw.aclose()
    assert bare["errors"][0]["extensions"]["retryable"] is False
    assert "check before repeating" in bare["errors"][0]["message"]
    assert keyed["errors"][0]["extensions"]["retryable"] is True
    assert "same Idempotency-Key" in keyed["errors"][0]["message"]

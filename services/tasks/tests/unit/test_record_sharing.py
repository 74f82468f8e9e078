"""The sharing settings the tasks service owns (admins set them; each change and each team
change is announced), and record sharing on the task reads (`crm_kit.sharing`), on every
profile: a task is held by its assignee and its creator."""

from __future__ import annotations

import pytest

from crm_contracts import tasks as contract
from crm_kit.access_view import AccessViews
from crm_kit.context import RequestContext
from crm_kit.testing import Clock, GraphQLClient
from crm_tasks.graphql.context import GraphQLContext, context_for
from crm_tasks.graphql.schema import schema
from crm_tasks.usecases.scope import scopes

from .conftest import FakeStore

CALLERS = {"rita": "rep", "otto": "rep", "max": "manager", "ada": "admin"}


def client(store: FakeStore, clock: Clock, views: AccessViews, who: str) -> GraphQLClient:
    def context_of(caller: RequestContext) -> GraphQLContext:
        return context_for(scopes(store.store, clock, views)(caller))

    return GraphQLClient.in_process(schema, context_of, "w1", who, CALLERS[who])


async def project(store: FakeStore, views: AccessViews) -> None:
    """What the projection consumer does with the events written so far."""
    for event in store.db.outbox:
        if event.type == contract.TEAM_CHANGED:
            team = contract.TeamChanged.model_validate(event.data)
            await views.team_changed(event.workspace, team)
        elif event.type == contract.ACCESS_SETTINGS_CHANGED:
            payload = contract.AccessSettingsChanged.model_validate(event.data)
            await views.settings_changed(event.workspace, payload)


async def test_only_admins_change_the_settings_and_each_change_is_announced(
    store: FakeStore, clock: Clock
) -> None:
    views = AccessViews(store.db)
    mutation = "mutation { setSharing(recordType: TASK, level: OWN) { version } }"
    for who in ("rita", "max"):
        error = await client(store, clock, views, who).error(mutation)
        assert error["extensions"]["code"] == "FORBIDDEN"
    assert not store.events_of(contract.ACCESS_SETTINGS_CHANGED)
    ada = client(store, clock, views, "ada")
    assert (await ada.data(mutation))["setSharing"]["version"] == 1
    assert (await ada.data(mutation))["setSharing"]["version"] == 1  # no change: no event
    data = await ada.data(
        'mutation { setFieldAccess(field: CONTACT_PHONE, roles: ["manager"]) { version '
        "fields { field roles } records { recordType level } } }"
    )
    settings = data["setFieldAccess"]
    assert settings["version"] == 2
    assert {"recordType": "TASK", "level": "OWN"} in settings["records"]
    assert {"field": "CONTACT_PHONE", "roles": ["admin", "manager"]} in settings["fields"]
    announced = store.events_of(contract.ACCESS_SETTINGS_CHANGED)
    assert [e.data["version"] for e in announced] == [1, 2]
    error = await ada.error(
        'mutation { setFieldAccess(field: DEAL_AMOUNT, roles: ["root"]) { version } }'
    )
    assert (error["extensions"]["code"], error["extensions"]["field"]) == (
        "BAD_USER_INPUT",
        "roles",
    )
    # Anyone reads them.
    read = await client(store, clock, views, "rita").data("{ sharingSettings { version } }")
    assert read["sharingSettings"]["version"] == 2


async def test_team_changes_are_announced_whole(store: FakeStore, clock: Clock) -> None:
    views = AccessViews(store.db)
    ada = client(store, clock, views, "ada")
    made = await ada.data(
        'mutation { createTeam(input: {name: "East", memberIds: ["otto"], managerId: "max"}) '
        "{ id } }"
    )
    team_id = made["createTeam"]["id"]
    await ada.data(
        'mutation($id: ID!) { updateTeam(id: $id, input: {memberIds: ["otto", "rita"]}) { id } }',
        {"id": team_id},
    )
    announced = [e.data for e in store.events_of(contract.TEAM_CHANGED)]
    assert [d["memberIds"] for d in announced] == [["otto"], ["otto", "rita"]]
    assert {d["managerId"] for d in announced} == {"max"}


@pytest.mark.parametrize(
    ("level", "who", "expected"),
    [
        ("EVERYONE", "rita", {"rita task", "otto task", "max task"}),
        ("OWN", "rita", {"rita task"}),
        ("OWN", "max", {"otto task", "max task"}),
        ("TEAM", "otto", {"otto task", "max task"}),
        ("OWN", "ada", {"rita task", "otto task", "max task"}),
    ],
)
async def test_task_reads_show_only_what_the_caller_sees(
    store: FakeStore, clock: Clock, level: str, who: str, expected: set[str]
) -> None:
    views = AccessViews(store.db)
    ada = client(store, clock, views, "ada")
    await ada.data(
        'mutation { createTeam(input: {name: "East", memberIds: ["otto"], managerId: "max"}) '
        "{ id } }"
    )
    ids = {}
    for holder in ("rita", "otto", "max"):
        made = await ada.data(
            "mutation($a: ID!, $t: String!) { createTask(input: {title: $t, assigneeId: $a, "
            'dealId: "d1"}) { id } }',
            {"a": holder, "t": f"{holder} task"},
        )
        ids[holder] = made["createTask"]["id"]
    await ada.data(f"mutation {{ setSharing(recordType: TASK, level: {level}) {{ version }} }}")
    await project(store, views)
    gql = client(store, clock, views, who)
    data = await gql.data(
        """query($o: ID!) {
          tasks { totalCount edges { node { title } } }
          _entities(representations: [
              {__typename: "Deal", id: "d1"}, {__typename: "Task", id: $o}]) {
            ... on Deal { tasks { title } }
            ... on Task { title }
          }
        }""",
        {"o": ids["otto"]},
    )
    assert {e["node"]["title"] for e in data["tasks"]["edges"]} == expected
    assert data["tasks"]["totalCount"] == len(expected)
    deal, otto = data["_entities"]
    assert {t["title"] for t in deal["tasks"]} == expected
    assert (otto is not None) == ("otto task" in expected)
    body = await gql.execute("query($id: ID!) { task(id: $id) { title } }", {"id": ids["otto"]})
    if "otto task" in expected:
        assert body["data"]["task"]["title"] == "otto task"
    else:  # as if there were none
        assert body == {"data": {"task": None}}
        assert "otto task" not in str(body)


TASK_WRITES = {
    "updateTask": 'mutation($id: ID!) { updateTask(id: $id, input: {title: "X"}) { id } }',
    "startTask": "mutation($id: ID!) { startTask(id: $id) { id } }",
    "completeTask": "mutation($id: ID!) { completeTask(id: $id) { id } }",
    "cancelTask": "mutation($id: ID!) { cancelTask(id: $id) { id } }",
}


@pytest.mark.parametrize("mutation", sorted(TASK_WRITES))
async def test_a_write_to_a_hidden_task_is_not_found_as_for_no_task(
    store: FakeStore, clock: Clock, mutation: str
) -> None:
    """Under OWN, Otto's task answers Rita exactly as an id that names nothing; under
    EVERYONE she sees it and may not change it: FORBIDDEN."""
    views = AccessViews(store.db)
    ada = client(store, clock, views, "ada")
    made = await ada.data('mutation { createTask(input: {title: "T", assigneeId: "otto"}) { id } }')
    otto_task = made["createTask"]["id"]
    query = TASK_WRITES[mutation]
    answers = {}
    for level in ("OWN", "EVERYONE"):
        await ada.data(f"mutation {{ setSharing(recordType: TASK, level: {level}) {{ version }} }}")
        await project(store, views)
        rita = client(store, clock, views, "rita")
        answers[level] = (await rita.execute(query, {"id": otto_task}))["errors"][0]
    nothing = (await rita.execute(query, {"id": "0" * 24}))["errors"][0]
    assert answers["OWN"]["extensions"] == nothing["extensions"]
    assert nothing["extensions"] == {"code": "NOT_FOUND", "field": "id"}
    assert answers["OWN"]["message"].replace(otto_task, "0" * 24) == nothing["message"]
    assert answers["EVERYONE"]["extensions"]["code"] == "FORBIDDEN"
    task = await ada.data("query($id: ID!) { task(id: $id) { title status } }", {"id": otto_task})
    assert task["task"] == {"title": "T", "status": "OPEN"}


async def test_an_admin_sets_the_audit_retention_and_every_service_hears_it(
    store: FakeStore, clock: Clock
) -> None:
    """Within 1 to 3650 days (null: the platform's setting); announced with the sharing
    settings, which keep what was set before; each service's projection has it."""
    views = AccessViews(store.db)
    ada = client(store, clock, views, "ada")
    await ada.data("mutation { setSharing(recordType: DEAL, level: OWN) { version } }")
    refused = await client(store, clock, views, "max").error(
        "mutation { setAuditRetention(days: 30) { version } }"
    )
    assert refused["extensions"]["code"] == "FORBIDDEN"
    for days in (0, 3651, -1):
        error = await ada.error(f"mutation {{ setAuditRetention(days: {days}) {{ version }} }}")
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "days"}
    data = await ada.data(
        "mutation { setAuditRetention(days: 30) { version auditRetentionDays "
        "records { recordType level } } }"
    )
    assert data["setAuditRetention"]["auditRetentionDays"] == 30
    assert {"recordType": "DEAL", "level": "OWN"} in data["setAuditRetention"]["records"]
    announced = store.events_of(contract.ACCESS_SETTINGS_CHANGED)
    assert [(e.data["version"], e.data.get("auditRetentionDays")) for e in announced] == [
        (1, None),
        (2, 30),
    ]
    await project(store, views)
    view = await views.view("w1")
    assert (view.settings.audit_retention_days, view.settings.level("deal")) == (30, "own")
    back = await ada.data("mutation { setAuditRetention(days: null) { auditRetentionDays } }")
    assert back["setAuditRetention"]["auditRetentionDays"] is None

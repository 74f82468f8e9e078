"""Tasks through the GraphQL schema with the in-memory store."""

from __future__ import annotations

from typing import Any

from crm_contracts import tasks as contract
from crm_kit.testing import Clock

from .conftest import FakeStore

CREATE = """
mutation($input: CreateTaskInput!) {
  createTask(input: $input) { id status title type priority dueAt assigneeId dealId source
    sourceDetail { kind } overdue }
}
"""
COMPLETE = """mutation($id: ID!, $o: String) {
  completeTask(id: $id, outcome: $o) { id status outcome onTime completedAt completedBy } }"""
SET_STATUS = (
    "mutation($id: ID!, $s: TaskStatus!) { setTaskStatus(id: $id, status: $s) { id status } }"
)


async def create(caller: Any, **fields: Any) -> dict:
    data = await caller.data(CREATE, {"input": {"title": "Call", "type": "CALL", **fields}})
    return data["createTask"]


async def test_create_task_and_its_event(caller: Any, store: FakeStore) -> None:
    task = await create(caller, dueAt="2026-03-03T10:00:00Z", assigneeId="bob", dealId="d1")
    assert task["status"] == "OPEN"
    assert task["source"] == "MANUAL"
    assert task["sourceDetail"] == {"kind": "MANUAL"}
    assert task["assigneeId"] == "bob"
    assert task["dueAt"] == "2026-03-03T10:00:00+00:00"
    [event] = store.events_of(contract.TASK_CREATED)
    payload = contract.TaskCreated.model_validate(event.data)
    assert payload.task.id == task["id"]
    assert payload.task.source.kind == "manual"
    assert event.workspace == "w1"


async def test_unassigned_task_goes_to_the_caller(caller: Any) -> None:
    task = await create(caller)
    assert task["assigneeId"] == "alice"


async def test_blank_or_padded_ids_are_read_as_given(caller: Any) -> None:
    # A blank assignee is no assignee (the caller takes it), not a user named "   ".
    assert (await create(caller, assigneeId="   "))["assigneeId"] == "alice"
    assert (await create(caller, assigneeId=" bob \t"))["assigneeId"] == "bob"
    task = await create(caller, assigneeId="bob")
    changed = await caller.data(
        "mutation($id: ID!, $i: UpdateTaskInput!) {"
        " updateTask(id: $id, input: $i) { assigneeId } }",
        {"id": task["id"], "i": {"assigneeId": " carol "}},
    )
    assert changed["updateTask"]["assigneeId"] == "carol"


async def test_input_errors_name_the_field(caller: Any) -> None:
    error = await caller.error(CREATE, {"input": {"title": "  ", "type": "CALL"}})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.title"}
    error = await caller.error(
        CREATE,
        {
            "input": {
                "title": "x",
                "dueAt": "2026-03-03T10:00:00Z",
                "remindAt": "2026-03-04T10:00:00Z",
            }
        },
    )
    assert error["extensions"]["field"] == "input.remindAt"
    error = await caller.error('mutation { createTask(input: {title: "x", type: NOPE}) { id } }')
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_complete_task_records_outcome_and_on_time(caller: Any, store: FakeStore) -> None:
    task = await create(caller, dueAt="2026-03-03T10:00:00Z")
    done = (await caller.data(COMPLETE, {"id": task["id"], "o": "left a voicemail"}))[
        "completeTask"
    ]
    assert done["status"] == "DONE"
    assert done["outcome"] == "left a voicemail"
    assert done["onTime"] is True
    assert done["completedBy"] == "alice"
    [event] = store.events_of(contract.TASK_COMPLETED)
    payload = contract.TaskCompleted.model_validate(event.data)
    assert payload.on_time is True
    assert payload.outcome == "left a voicemail"


async def test_late_completion_is_not_on_time(caller: Any, clock: Clock) -> None:
    task = await create(caller, dueAt="2026-03-02T10:00:00Z")
    clock.advance(hours=3)
    done = (await caller.data(COMPLETE, {"id": task["id"]}))["completeTask"]
    assert done["onTime"] is False


async def test_invalid_transition_is_precondition_failed(caller: Any) -> None:
    task = await create(caller)
    await caller.data(COMPLETE, {"id": task["id"]})
    error = await caller.error(SET_STATUS, {"id": task["id"], "s": "OPEN"})
    ext = error["extensions"]
    assert ext["code"] == "PRECONDITION_FAILED"
    assert ext["field"] == "status"
    assert ext["currentStatus"] == "DONE"
    assert ext["allowed"] == []


async def test_in_progress_back_to_open_then_cancel(caller: Any, store: FakeStore) -> None:
    task = await create(caller)
    for status in ("IN_PROGRESS", "OPEN", "CANCELLED"):
        data = await caller.data(SET_STATUS, {"id": task["id"], "s": status})
        assert data["setTaskStatus"]["status"] == status
    assert len(store.events_of(contract.TASK_CANCELLED)) == 1
    assert len(store.events_of(contract.TASK_UPDATED)) == 2


async def test_update_task_changes_fields_and_rearms_the_reminder(
    caller: Any, store: FakeStore
) -> None:
    task = await create(caller, dueAt="2026-03-03T10:00:00Z")
    query = """mutation($id: ID!, $in: UpdateTaskInput!) {
      updateTask(id: $id, input: $in) { title priority remindAt description } }"""
    data = await caller.data(
        query,
        {
            "id": task["id"],
            "in": {"title": "Call back", "priority": "HIGH", "remindAt": "2026-03-03T09:00:00Z"},
        },
    )
    assert data["updateTask"]["title"] == "Call back"
    assert data["updateTask"]["priority"] == "HIGH"
    [event] = store.events_of(contract.TASK_UPDATED)
    assert event.data["changedFields"] == ["priority", "remindAt", "title"]
    [stored] = await store.for_workspace("w1").get_tasks([task["id"]])
    assert stored.reminder_sent is False


async def test_unknown_task_is_null_to_read_and_not_found_to_change(caller: Any) -> None:
    for missing in ("nope", "0123456789abcdef01234567"):
        data = await caller.data("query($id: ID!) { task(id: $id) { id } }", {"id": missing})
        assert data == {"task": None}
    assert await caller.data('{ team(id: "nope") { id } automationRule(id: "nope") { id } }') == {
        "team": None,
        "automationRule": None,
    }
    error = await caller.error(COMPLETE, {"id": "0123456789abcdef01234567"})
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_tasks_filter_and_cursor_pagination(caller: Any) -> None:
    ids = []
    for day in range(1, 6):
        ids.append((await create(caller, dueAt=f"2026-03-1{day}T10:00:00Z", dealId="d1"))["id"])
    await create(caller, dealId="d2")
    await caller.data(COMPLETE, {"id": ids[0]})
    query = """query($after: String) {
      tasks(filter: {dealId: "d1", status: OPEN}, first: 2, after: $after) {
        totalCount edges { cursor node { id dueAt } } pageInfo { hasNextPage endCursor } } }"""
    seen: list[str] = []
    after = None
    while True:
        page = (await caller.data(query, {"after": after}))["tasks"]
        assert page["totalCount"] == 4
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ids[1:]


async def test_tasks_ordered_by_due_desc_and_overdue_filter(caller: Any) -> None:
    early = await create(caller, dueAt="2026-03-01T10:00:00Z")
    late = await create(caller, dueAt="2026-03-09T10:00:00Z")
    none = await create(caller)
    data = await caller.data(
        "{ tasks(orderBy: {field: DUE_AT, direction: DESC}) { edges { node { id } } } }"
    )
    assert [e["node"]["id"] for e in data["tasks"]["edges"]] == [
        none["id"],
        late["id"],
        early["id"],
    ]
    data = await caller.data("{ tasks(filter: {overdue: true}) { edges { node { id overdue } } } }")
    assert [e["node"] for e in data["tasks"]["edges"]] == [{"id": early["id"], "overdue": True}]
    data = await caller.data(
        '{ tasks(filter: {dueBefore: "2026-03-05T00:00:00Z", dueAfter: "2026-02-01T00:00:00Z"})'
        " { totalCount } }"
    )
    assert data["tasks"]["totalCount"] == 1


async def test_malformed_cursor_and_page_size_are_input_errors(caller: Any) -> None:
    error = await caller.error('{ tasks(after: "%%%") { totalCount } }')
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}
    error = await caller.error("{ tasks(first: 1000) { totalCount } }")
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}


async def test_my_tasks_lists_open_tasks_overdue_first(caller: Any, make_caller: Any) -> None:
    later = await create(caller, dueAt="2026-03-05T10:00:00Z")
    overdue = await create(caller, dueAt="2026-03-01T10:00:00Z")
    undated = await create(caller)
    done = await create(caller, dueAt="2026-02-01T10:00:00Z")
    await caller.data(COMPLETE, {"id": done["id"]})
    await create(caller, assigneeId="bob")
    data = await caller.data("{ myTasks { id overdue } }")
    assert [t["id"] for t in data["myTasks"]] == [overdue["id"], later["id"], undated["id"]]
    assert data["myTasks"][0]["overdue"] is True
    bob = make_caller(subject="bob")
    assert len((await bob.data("{ myTasks { id } }"))["myTasks"]) == 1


async def test_viewer_cannot_write(make_caller: Any) -> None:
    viewer = make_caller(roles="viewer")
    error = await viewer.error(CREATE, {"input": {"title": "x"}})
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_rep_cannot_manage_teams(make_caller: Any) -> None:
    rep = make_caller(roles="rep")
    error = await rep.error('mutation { createTeam(input: {name: "A", memberIds: ["a"]}) { id } }')
    assert error["extensions"]["code"] == "FORBIDDEN"
